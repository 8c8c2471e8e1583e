#include "ensemble/svg.h"

#include <cmath>

#include <fmt/format.h>

namespace tokenfocus::ensemble::svg {

const std::string& palette(size_t i) {
  static const std::vector<std::string> colours{"#0072B2", "#E69F00", "#009E73", "#CC79A7",
                                                "#56B4E9", "#D55E00", "#F0E442", "#000000"};
  return colours[i % colours.size()];
}

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

Canvas::Canvas(double width, double height) : width_(width), height_(height) {
  rect(0, 0, width, height, "#ffffff");
}

void Canvas::rect(double x, double y, double w, double h, const std::string& fill, double opacity,
                  const std::string& title) {
  body_ += fmt::format(
      R"(<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" fill="{}" fill-opacity="{:.2f}" rx="2">)",
      x, y, std::max(w, 0.0), std::max(h, 0.0), fill, opacity);
  if (!title.empty()) body_ += "<title>" + escape(title) + "</title>";
  body_ += "</rect>\n";
}

void Canvas::line(double x1, double y1, double x2, double y2, const std::string& stroke,
                  double width, const std::string& dash) {
  body_ += fmt::format(
      R"(<line x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}" stroke="{}" stroke-width="{}"{}/>)",
      x1, y1, x2, y2, stroke, width, dash.empty() ? "" : " stroke-dasharray=\"" + dash + "\"");
  body_ += "\n";
}

void Canvas::circle(double cx, double cy, double r, const std::string& fill, double opacity) {
  body_ +=
      fmt::format(R"(<circle cx="{:.1f}" cy="{:.1f}" r="{}" fill="{}" fill-opacity="{:.2f}"/>)", cx,
                  cy, r, fill, opacity);
  body_ += "\n";
}

void Canvas::polyline(const std::vector<double>& xs, const std::vector<double>& ys,
                      const std::string& stroke, double width) {
  std::string points;
  for (size_t i = 0; i < xs.size(); ++i) points += fmt::format("{:.1f},{:.1f} ", xs[i], ys[i]);
  body_ += fmt::format(
      R"(<polyline points="{}" fill="none" stroke="{}" stroke-width="{}" stroke-linejoin="round"/>)",
      points, stroke, width);
  body_ += "\n";
}

void Canvas::text(double x, double y, const std::string& content, double size,
                  const std::string& anchor, const std::string& fill, bool bold, double rotate) {
  body_ += fmt::format(
      R"(<text x="{:.1f}" y="{:.1f}" font-size="{}" text-anchor="{}" fill="{}"{}{}>{}</text>)", x,
      y, size, anchor, fill, bold ? " font-weight=\"bold\"" : "",
      rotate != 0 ? fmt::format(" transform=\"rotate({} {:.1f} {:.1f})\"", rotate, x, y)
                  : std::string(),
      escape(content));
  body_ += "\n";
}

std::string Canvas::str() const {
  return fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} "
      "{1}\" "
      "font-family=\"Helvetica, Arial, sans-serif\">\n{2}</svg>\n",
      width_, height_, body_);
}

std::vector<double> nice_ticks(double lo, double hi, int count) {
  if (!(hi > lo)) return {lo};
  const double raw = (hi - lo) / std::max(count, 1);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * magnitude;
    if (step >= raw) break;
  }
  std::vector<double> ticks;
  for (double t = std::ceil(lo / step - 1e-9) * step; t <= hi + 1e-9 * step; t += step) {
    ticks.push_back(std::fabs(t) < 1e-12 ? 0.0 : t);
  }
  return ticks;
}

}  // namespace tokenfocus::ensemble::svg
