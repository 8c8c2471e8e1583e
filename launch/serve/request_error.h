// What a bad request gets: an HTTP status and a message naming the place in the body
// ("items[3].image.path"). The server answers {"error": {"status", "message", "where"}} and keeps
// serving; nothing in this folder lets a request's bad input escape as anything else.
#pragma once

#include <stdexcept>
#include <string>

namespace tokenfocus::launch::serve {

class RequestError : public std::runtime_error {
 public:
  RequestError(int status, std::string where, const std::string& message)
      : std::runtime_error(where.empty() ? message : where + ": " + message),
        status_(status),
        where_(std::move(where)),
        message_(message) {}

  int status() const { return status_; }
  const std::string& where() const { return where_; }  // "" for the body as a whole
  const std::string& message() const { return message_; }

 private:
  int status_;
  std::string where_, message_;
};

}  // namespace tokenfocus::launch::serve
