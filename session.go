package mongosession

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/mongosession/mongosession/internal/store"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Errors returned by Session methods, or passed to Options.ErrorFunc.
var (
	// ErrInvalidKey: a key is empty, longer than 256 bytes, not UTF-8, contains '.' or NUL, or starts with '$'
	// (it would corrupt a MongoDB field path). Nested document keys follow the same rule.
	ErrInvalidKey = errors.New("mongosession: invalid key")
	// ErrInvalidValue: a value cannot be stored (not encodable as BSON, more than 8 MiB, an invalid nested key,
	// a string that is not UTF-8, nested more than 64 levels).
	ErrInvalidValue = errors.New("mongosession: value cannot be stored")
	// ErrType: the stored value has another type than the getter asks for, or Incr would overflow int64.
	ErrType = errors.New("mongosession: value has another type")
	// ErrHeadersSent: the response headers went out, so no cookie can carry the change (Renew, Destroy,
	// Promote; a write to a session that lives in the cookie or does not exist yet).
	ErrHeadersSent = errors.New("mongosession: response headers already sent")
	// ErrSessionClosed: the request's handler has returned; a goroutine that outlived it cannot change the
	// session any more.
	ErrSessionClosed = errors.New("mongosession: session closed: the request has ended")
	// ErrSuperseded is passed to ErrorFunc when a request's changes could not be stored because its cookie is
	// outdated: the session was renewed (login) or rotated past the request's token, or it ended (logout)
	// while the request ran. It is not an outage: the default ErrorFunc answers 409 Conflict, and the client
	// may retry with the cookie it holds now.
	ErrSuperseded = errors.New("mongosession: the session moved on: this request's changes were not stored")
)

// Session is the session of one request. Get it with FromContext. Reads load the session lazily (one
// database read, the first time); changes are recorded per key and written once, when the response starts.
// A Session is safe for use by the goroutines of its request, until the handler returns.
type Session struct {
	m       *Manager
	ctx     context.Context
	req     *http.Request // the request as it arrived (client info for events and RecordClientInfo); nil for LoadCookie and LoadID
	arrived time.Time

	mu   sync.Mutex
	kind kind // where the session lives: noSession, *dbSession or *cookieSession
	// fallback is a sealed session that came with database cookies (cookie tossing): used if none validates.
	fallback kind
	rec      *store.Record // the session as read (nil: none); its Data is the view's stored part
	view     view
	user     *string // SetUser, pending
	remember *bool   // RememberMe, pending

	renew, promote bool
	destroyed      kind  // the session Destroy ends at commit (nil: none)
	err            error // a failed load: the response becomes ErrorFunc's
	sent           bool  // headers went out: no more cookies
	closed         bool  // the handler returned
	detached       bool  // loaded by Manager.Load (no response: no cookie ever), committed by Session.Commit
}

// kind is one way of keeping a session: in the database or sealed in the cookie. The Session holds what both
// share (the data view, pending changes and requests); a kind knows how to read and write its own.
type kind interface {
	// load reads the session if it has not been read (lazily; the database kind reads, the cookie kind has
	// nothing to read). It sets s.rec, or leaves it nil when the request has no usable session.
	load(s *Session, now time.Time) error
	// prepare does what the commit needs done before it can tell its work (the database kind reads when the
	// commit needs the read); it may hand the session to another kind (the sealed fallback).
	prepare(s *Session, now time.Time, canSetCookie bool) error
	// due reports whether a commit at now has work to do: the fast path of an untouched request.
	due(s *Session, now time.Time, canSetCookie bool) bool
	// commit writes the request's changes; canSetCookie tells whether a cookie can still reach the client.
	commit(ctx context.Context, s *Session, now time.Time, canSetCookie bool) (outcome, error)
	// end deletes the session (Destroy). The cookie is cleared by the caller.
	end(ctx context.Context, s *Session) error
	// id is the session id for the application ("" if it has none).
	id() string
	// mode tells where the session lives, for Session.Mode.
	mode(s *Session) Mode
	// storesWithoutCookie reports whether a change can be stored without sending a cookie (after the headers).
	storesWithoutCookie(s *Session) bool
}

// load reads the session through its kind, once.
func (s *Session) loadLocked() error {
	if s.err != nil {
		return s.err
	}
	if err := s.kind.load(s, s.m.now()); err != nil {
		s.err = err
		s.m.failed(s.ctx, err)
	}
	return s.err
}

// setRecord points the session at a record read or written; its data becomes the view's stored part.
func (s *Session) setRecord(rec *store.Record) {
	s.rec, s.view.stored = rec, nil
	if rec != nil {
		s.view.stored = rec.Data
	}
}

// dirty reports whether the request changed data or the user link.
func (s *Session) dirty() bool { return len(s.view.changes) > 0 || s.user != nil || s.remember != nil }

// writable returns an error if a change can no longer be made: after the handler returned, or (for a session
// that only a new cookie could carry) after the headers went out.
func (s *Session) writable() error {
	switch {
	case s.closed:
		return ErrSessionClosed
	case s.sent && !s.kind.storesWithoutCookie(s):
		return fmt.Errorf("%w: only a new cookie could carry this change (no session yet, or one in the cookie)%s", ErrHeadersSent, s.noResponse())
	}
	return nil
}

// noResponse explains, in an error, why a session loaded outside the middleware cannot send a cookie.
func (s *Session) noResponse() string {
	if s.detached {
		return "; a session from Manager.Load has no response to carry a cookie"
	}
	return ""
}

// ID returns the session id, "" while the session does not exist (yet) or lives in the cookie. It reads the
// session if needed: the id of a cookie whose token was not checked is the client's word, not a session. It
// is not a secret on its own (the token is), but it need not be shown to users either.
func (s *Session) ID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loadLocked() != nil || s.rec == nil {
		return ""
	}
	return s.kind.id()
}

// value returns the value this request sees for key.
func (s *Session) value(key string) (bson.RawValue, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.loadLocked(); err != nil {
		return bson.RawValue{}, false, err
	}
	v, ok := s.view.get(key)
	return v, ok, nil
}

// Put sets key to v. The value is encoded as BSON now and checked whole (nested keys, strings), so a value that
// cannot be stored is an error here (ErrInvalidKey, ErrInvalidValue), never at commit. Put needs no read.
func (s *Session) Put(key string, v any) error {
	if err := checkKey(key); err != nil {
		return err
	}
	val, err := encodeValue(key, v)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}
	s.view.change(key, store.Change{Op: store.OpSet, Value: val})
	return nil
}

// Delete removes key. It needs no read.
func (s *Session) Delete(key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}
	s.view.change(key, store.Change{Op: store.OpUnset})
	return nil
}

// Incr adds delta to the integer at key (a missing key counts as 0) and returns the value this request
// sees. The addition is applied atomically at commit ($inc), so parallel requests never lose an increment;
// the returned value may therefore be behind the stored one when another request increments at the same
// time. A sum past int64 is ErrType here. Incr reads the session (to return a value).
// In cookie mode (see Mode) the value travels in the cookie: parallel requests are last-writer-wins there,
// so increments made in parallel can be lost.
func (s *Session) Incr(key string, delta int64) (int64, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.loadLocked(); err != nil {
		return 0, err
	}
	if err := s.writable(); err != nil {
		return 0, err
	}
	cur, _ := s.view.get(key)
	sum, err := store.AddInt(cur, delta)
	if err != nil {
		return 0, fmt.Errorf("%w: Incr %q by %d: stored value is %s: %v", ErrType, key, delta, cur.Type, err)
	}
	switch ch, changed := s.view.changes[key]; {
	case changed && ch.Op == store.OpInc:
		ch.Delta += delta
		s.view.change(key, ch)
	case changed: // a Put or Delete earlier in this request: the result is a plain set
		s.view.change(key, store.Change{Op: store.OpSet, Value: sum})
	default:
		s.view.change(key, store.Change{Op: store.OpInc, Delta: delta})
	}
	n, _ := sum.AsInt64OK()
	if sum.Type == bson.TypeDouble {
		n = int64(sum.Double())
	}
	return n, nil
}

// Clear removes every key. It reads the session (to know the keys).
func (s *Session) Clear() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.loadLocked(); err != nil {
		return err
	}
	if err := s.writable(); err != nil {
		return err
	}
	s.view.changes = nil
	for k := range s.view.stored {
		s.view.change(k, store.Change{Op: store.OpUnset})
	}
	return nil
}

// Keys returns the keys this request sees, sorted.
func (s *Session) Keys() ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.loadLocked(); err != nil {
		return nil, err
	}
	return s.view.keys(), nil
}

// Exists reports whether key is set.
func (s *Session) Exists(key string) (bool, error) {
	_, ok, err := s.value(key)
	return ok, err
}

// Get returns the value at key, or nil if the key is missing. What it returns depends on what was stored:
//
//	Put with                                  Get returns
//	string, bool                              string, bool
//	int, int8, int16, int64,                  int64 (every Go integer is stored as int64, except int32;
//	  uint8, uint16, uint32, uint, uint64       a uint above math.MaxInt64 is ErrInvalidValue at Put)
//	int32                                     int32
//	float32, float64                          float64
//	time.Time, bson.DateTime                  time.Time, in UTC, to the millisecond (what BSON keeps)
//	[]byte                                    []byte (a bson.Binary of another subtype than 0 stays one)
//	struct, map, bson.D, bson.M               bson.D (a struct's field names lower-cased, or its bson tags)
//	slice, array (other than of bytes)        bson.A
//	nil                                       nil (Exists reports true)
//	other bson types (bson.ObjectID, ...)     the same type
//
// Values nested in documents and arrays follow the same rules. To get a struct or a typed slice back, use
// Decode; the typed getters (GetString, GetInt, ...) check the type for you.
func (s *Session) Get(key string) (any, error) {
	v, ok, err := s.value(key)
	if err != nil || !ok {
		return nil, err
	}
	out, err := anyOf(v)
	if err != nil {
		return nil, fmt.Errorf("mongosession: Get %q: %w", key, err)
	}
	return out, nil
}

// Decode decodes the value at key into out (a pointer), as bson.Unmarshal would: the way back to the struct,
// map or slice that was stored (Get returns documents as bson.D). A missing key leaves out unchanged and
// returns nil; use Exists to tell.
func (s *Session) Decode(key string, out any) error {
	v, ok, err := s.value(key)
	if err != nil || !ok {
		return err
	}
	if err := v.UnmarshalWithRegistry(valueRegistry, out); err != nil {
		return fmt.Errorf("mongosession: Decode %q: %w", key, err)
	}
	return nil
}

func typeErr(op, key string, v bson.RawValue) error {
	return fmt.Errorf("%w: %s %q: stored value is %s", ErrType, op, key, v.Type)
}

// getAs returns the value at key converted by as (the zero T if the key is missing); op names the getter in
// errors.
func getAs[T any](s *Session, op, key string, as func(bson.RawValue) (T, bool)) (T, error) {
	var zero T
	v, ok, err := s.value(key)
	if err != nil || !ok {
		return zero, err
	}
	out, isT := as(v)
	if !isT {
		return zero, typeErr(op, key, v)
	}
	return out, nil
}

func stringOf(v bson.RawValue) (string, bool) { return v.StringValueOK() }

func int64Of(v bson.RawValue) (int64, bool) {
	if n, ok := v.AsInt64OK(); ok && v.Type != bson.TypeDouble {
		return n, true
	}
	if f, ok := v.DoubleOK(); ok && f == math.Trunc(f) && math.Abs(f) < 1<<63 {
		return int64(f), true
	}
	return 0, false
}

func intOf(v bson.RawValue) (int, bool) {
	n, ok := int64Of(v)
	return int(n), ok && int64(int(n)) == n
}

func float64Of(v bson.RawValue) (float64, bool) {
	if f, ok := v.DoubleOK(); ok {
		return f, true
	}
	if n, ok := v.AsInt64OK(); ok {
		return float64(n), true
	}
	return 0, false
}

func boolOf(v bson.RawValue) (bool, bool) { return v.BooleanOK() }

func timeOf(v bson.RawValue) (time.Time, bool) {
	ms, ok := v.DateTimeOK()
	return time.UnixMilli(ms).UTC(), ok
}

func bytesOf(v bson.RawValue) ([]byte, bool) {
	_, b, ok := v.BinaryOK()
	return append([]byte(nil), b...), ok
}

// GetString returns the string at key, or "" if the key is missing.
func (s *Session) GetString(key string) (string, error) { return getAs(s, "GetString", key, stringOf) }

// GetInt64 returns the integer at key (int32, int64, or a double without fraction), or 0 if missing.
func (s *Session) GetInt64(key string) (int64, error) { return getAs(s, "GetInt64", key, int64Of) }

// GetInt returns the integer at key as GetInt64 does, or 0 if missing; ErrType if it does not fit in an int.
func (s *Session) GetInt(key string) (int, error) { return getAs(s, "GetInt", key, intOf) }

// GetFloat64 returns the number at key, or 0 if missing.
func (s *Session) GetFloat64(key string) (float64, error) {
	return getAs(s, "GetFloat64", key, float64Of)
}

// GetBool returns the boolean at key, or false if missing.
func (s *Session) GetBool(key string) (bool, error) { return getAs(s, "GetBool", key, boolOf) }

// GetTime returns the time at key (BSON stores milliseconds, in UTC), or the zero time if missing.
func (s *Session) GetTime(key string) (time.Time, error) { return getAs(s, "GetTime", key, timeOf) }

// GetBytes returns the bytes at key, or nil if missing.
func (s *Session) GetBytes(key string) ([]byte, error) { return getAs(s, "GetBytes", key, bytesOf) }

// cookieChange checks that a change only a new cookie can carry (Renew, Destroy, Promote) can still be made.
func (s *Session) cookieChange() error {
	switch {
	case s.closed:
		return ErrSessionClosed
	case s.sent && s.detached:
		return fmt.Errorf("%w%s", ErrHeadersSent, s.noResponse())
	case s.sent:
		return ErrHeadersSent
	}
	return nil
}

// Renew gives the session a new id and token at commit and retires the old ones, keeping the data. Call it
// after login or any change of privilege (session fixation). Requests still in flight with the old cookie are
// told apart from strangers for a grace window: they read no session and their changes fail with
// ErrSuperseded. A session in the cookie moves to the database. It returns ErrHeadersSent once the response
// has started.
func (s *Session) Renew() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.cookieChange(); err != nil {
		return err
	}
	s.renew = true
	return nil
}

// RememberMe records the session's choice of cookie ("remember me" at login): true for a cookie that lasts
// until the session's absolute deadline, false for a browser-session cookie (no Max-Age or Expires: the
// browser forgets it when it closes). Without a choice, Options.BrowserSessionCookie decides. The choice is
// stored with the session and survives rotation, Renew and the move from the cookie to the database; the
// server-side deadlines (IdleTimeout, Lifetime) do not change. The response carries a cookie with the new
// choice (a change of it rotates the token) unless a parallel request rotated first; then the next rotation
// carries it. On a request without a session the choice goes with the session its first write creates.
// RememberMe reads the session; it returns ErrHeadersSent once the response has started.
func (s *Session) RememberMe(remember bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.cookieChange(); err != nil {
		return err
	}
	if err := s.loadLocked(); err != nil { // a read lets the commit rotate, which sends the cookie
		return err
	}
	s.remember = &remember
	return nil
}

// Destroy deletes the session at commit and clears the cookie (logout). A slower parallel request of the
// same session cannot bring it back. Changes made after Destroy start a new session. It reads the session
// first (if not read yet) to check the token. It returns ErrHeadersSent once the response has started.
func (s *Session) Destroy() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.cookieChange(); err != nil {
		return err
	}
	// Check the token first: knowing a session id must not be enough to end someone else's session.
	if err := s.loadLocked(); err != nil {
		return err
	}
	if s.rec != nil {
		s.destroyed = s.kind
	}
	s.become(noSession{}, nil)
	s.user, s.remember, s.renew, s.promote = nil, nil, false, false
	s.view.changes = nil
	return nil
}

// TokenAge returns how long ago the session's newest token was issued (for a cookie-mode session: when the
// cookie was last sealed), 0 for a session that does not exist yet. It reads the session. Handy to show
// rotation at work.
func (s *Session) TokenAge() (time.Duration, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.loadLocked(); err != nil || s.rec == nil {
		return 0, err
	}
	return s.m.now().Sub(s.rec.Newest().At), nil
}
