// A few SVG primitives and "nice" axis ticks: enough for the report's charts without a plotting
// dependency. Coordinates are in pixels; text is escaped.
#pragma once

#include <string>
#include <vector>

namespace tokenfocus::ensemble::svg {

// A qualitative palette (colour-blind friendly, Okabe–Ito).
const std::string& palette(size_t i);

class Canvas {
 public:
  Canvas(double width, double height);
  void rect(double x, double y, double w, double h, const std::string& fill, double opacity = 1,
            const std::string& title = "");
  void line(double x1, double y1, double x2, double y2, const std::string& stroke, double width = 1,
            const std::string& dash = "");
  void circle(double cx, double cy, double r, const std::string& fill, double opacity = 1);
  void polyline(const std::vector<double>& xs, const std::vector<double>& ys,
                const std::string& stroke, double width = 2);
  // anchor: start | middle | end
  void text(double x, double y, const std::string& content, double size = 12,
            const std::string& anchor = "start", const std::string& fill = "#333",
            bool bold = false, double rotate = 0);
  std::string str() const;

 private:
  double width_, height_;
  std::string body_;
};

// Ticks covering [lo, hi] at 1/2/5·10^k steps, about `count` of them.
std::vector<double> nice_ticks(double lo, double hi, int count = 5);
std::string escape(const std::string& text);

}  // namespace tokenfocus::ensemble::svg
