// Package mongosession keeps server-side HTTP sessions for net/http in MongoDB, with a rotating token in the
// cookie.
//
// The browser holds one opaque cookie, "<session id>.<token>"; everything else is one MongoDB document per
// session (only SHA-256 hashes of tokens are stored). The token rotates: a token is fresh for TokenTTL (5 s),
// the first request that reads its session after that gets a new one, and only the TokensKept (3) newest are
// accepted, so a stolen or planted cookie goes stale. Anonymous visitors can live entirely in an encrypted
// cookie instead (Options.CookieKeys, StartInCookie) and move to MongoDB when they log in.
//
// # A request's life
//
// Manager.Middleware gives every request a Session (FromContext). Nothing is read until the handler first asks
// for session data: an untouched session costs no database work. The read is one FindOne by _id; the token
// and the deadlines are checked on the document. Changes (Put, Delete, Incr, SetUser) are recorded per key and
// written once, in one write command, just before the response headers leave: at the first WriteHeader, Write
// or Flush, or when the handler returns. That write applies $set/$unset/$inc per key, so parallel requests that
// change different keys never undo each other and increments are never lost; the token rotation and the
// extension of the idle deadline ride on the same command, all or nothing. Nothing is buffered; Flush, Hijack
// and http.ResponseController keep working.
//
// # The promise
//
// The person holding the browser is never logged out by the library's own doing. A response sets the cookie
// only for a session it read, created, renewed or moved, and clears it only when the handler called Destroy.
// A request whose token was rotated away after it was sent still reads its session, but never rotates. A
// request whose session was renewed (login) while it was on its way reads no session, gets no cookie, and its
// changes fail with ErrSuperseded (409 by default) instead of starting a session that would overwrite the
// browser's newer cookie. A hijacked connection
// (WebSocket) never rotates. A rotation never retires the token of the request that rotates, so a lost
// response or a late database acknowledgement cannot retire the browser's token.
//
// # Errors
//
// A malformed or forged cookie is no session, never an error. A value that cannot be stored is an error at
// Put (ErrInvalidKey, ErrInvalidValue). A database failure or timeout goes to Options.ErrorFunc (default:
// 503) on a clean header map, with no cookie; log lines name sessions only by SessionHash. Changes after the
// handler returned are ErrSessionClosed.
//
// # Storage
//
// NewMongoStore prepares a collection (a TTL index where the server has them, a bounded purge otherwise).
// Connect the driver with ClientOptions, whose short timeouts let an application recover from an outage within
// about 2 s. The storage contract (Store) is internal: the promises above rest on its compare-and-set and
// single-document atomicity, and MongoStore is its implementation.
//
// Times come from Options.Clock (tests move it instead of sleeping).
package mongosession
