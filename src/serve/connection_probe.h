// ConnectionProbe: whether the client of a request still holds its
// connection, for responses that send nothing until they are complete
// (non-streamed completions: without it, a client that hung up would keep
// its slot busy until max_tokens). cpp-httplib 0.11 hands a route no socket,
// so the probe finds the accepted socket once by the request's addresses
// (peer and local address and port) and then polls it: a peer that closed
// makes it readable with nothing to read, or reports a hang-up.
#pragma once
#include <httplib.h>

namespace masque::serve {

class ConnectionProbe {
 public:
  explicit ConnectionProbe(const httplib::Request& req);
  // False once the client has closed its end; true while open or when the
  // socket was not found (then nothing is detected, as before).
  bool alive() const;
  bool found() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

}  // namespace masque::serve
