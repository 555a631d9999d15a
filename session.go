package mongosession

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Errors returned by Session methods.
var (
	// ErrInvalidKey: a key is empty, contains '.' or a NUL byte, or starts with '$' (it would corrupt a
	// MongoDB field path).
	ErrInvalidKey = errors.New("mongosession: invalid key")
	// ErrType: the stored value has another type than the getter asks for.
	ErrType = errors.New("mongosession: value has another type")
	// ErrHeadersSent: Renew or Destroy was called after the response headers went out, so no cookie can
	// carry the change.
	ErrHeadersSent = errors.New("mongosession: response headers already sent")
)

// maxValueSize keeps one value well below MongoDB's 16 MiB document limit.
const maxValueSize = 8 << 20

type state uint8

const (
	stateNone   state = iota // no valid cookie: no session until the first write
	stateCookie              // a well-formed cookie that has not been read yet
	stateLoaded              // read and valid
)

// Session is the session of one request. Get it with FromContext. Reads load the session lazily (one
// database read, the first time); changes are recorded per key and written once, when the response starts.
// A Session is safe for use by the goroutines of its request.
type Session struct {
	m   *Manager
	ctx context.Context

	mu      sync.Mutex
	state   state
	id      string
	token   string
	rec     *Record
	changes map[string]Change
	user    *string
	renew   bool
	destroy string        // id to delete at commit
	stale   bool          // a cookie was sent but names no live session: clear it
	err     error         // a failed load: the response becomes ErrorFunc's
	sent    bool          // headers went out: no more cookies
	req     *http.Request // the request as it arrived (client info for events and RecordClientInfo)

	cookieMode // sealed-cookie state (cookiemode.go)

	hash   [32]byte // sha256 of hashOf, kept here so that hashing costs no allocation
	hashOf string
}

// tokenHash returns the hash of the cookie's token (cached; the cache follows s.token).
func (s *Session) tokenHash() []byte {
	if s.hashOf != s.token || s.token == "" {
		s.hash = sha256.Sum256(stackBytes(s.token, new([tokenLen]byte)))
		s.hashOf = s.token
	}
	return s.hash[:]
}

// ID returns the session id, "" while the session does not exist (yet). It reads the session if needed:
// the id of a cookie whose token was not checked is the client's word, not a session. It is not a secret on
// its own (the token is), but it need not be shown to users either.
func (s *Session) ID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loadLocked() != nil || s.state != stateLoaded {
		return ""
	}
	return s.id
}

func (s *Session) loadLocked() error {
	if s.state != stateCookie || s.err != nil {
		return s.err
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.m.opts.Timeout)
	defer cancel()
	now := time.Now()
	rec, err := s.m.store.Load(ctx, s.id, s.tokenHash(), now)
	switch {
	case errors.Is(err, ErrNotFound):
		if errors.Is(err, ErrRetired) {
			s.m.reportReuse(ctx, s, now)
		}
		s.state, s.stale, s.rec = stateNone, true, nil
		return nil
	case err == nil && (!rec.Idle.After(now) || !rec.Absolute.After(now)):
		s.state, s.stale, s.rec = stateNone, true, nil
		return nil
	case err != nil:
		s.err = fmt.Errorf("mongosession: load session: %w", err)
		return s.err
	}
	s.rec, s.state = rec, stateLoaded
	return nil
}

// value returns the value this request sees for key: the stored one with this request's changes applied.
func (s *Session) value(key string) (bson.RawValue, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.loadLocked(); err != nil {
		return bson.RawValue{}, false, err
	}
	v, ok := s.viewLocked(key)
	return v, ok, nil
}

func (s *Session) storedLocked(key string) (bson.RawValue, bool) {
	if s.rec == nil {
		return bson.RawValue{}, false
	}
	v, ok := s.rec.Data[key]
	return v, ok
}

func (s *Session) viewLocked(key string) (bson.RawValue, bool) {
	ch, changed := s.changes[key]
	if !changed {
		return s.storedLocked(key)
	}
	switch ch.Op {
	case OpSet:
		return ch.Value, true
	case OpInc:
		base, _ := s.storedLocked(key)
		return addInt(base, ch.Delta), true
	}
	return bson.RawValue{}, false
}

// addInt adds delta to a numeric value the way $inc does (int32 and int64 become int64, a double stays one).
func addInt(v bson.RawValue, delta int64) bson.RawValue {
	if f, ok := v.DoubleOK(); ok {
		return rawValue(f + float64(delta))
	}
	n, _ := v.AsInt64OK()
	return rawValue(n + delta)
}

func rawValue(v any) bson.RawValue {
	t, b, err := bson.MarshalValue(v)
	if err != nil {
		panic(err) // only called with numbers
	}
	return bson.RawValue{Type: t, Value: b}
}

func checkKey(key string) error {
	if key == "" || strings.HasPrefix(key, "$") || strings.ContainsAny(key, ".\x00") {
		return fmt.Errorf("%w %q: keys may not be empty, contain '.' or NUL, or start with '$'", ErrInvalidKey, key)
	}
	return nil
}

func (s *Session) setLocked(key string, ch Change) {
	if s.changes == nil {
		s.changes = make(map[string]Change)
	}
	s.changes[key] = ch
}

// Put sets key to v. The value is encoded as BSON now, so a value that cannot be stored (a channel, a func,
// a map with non-string keys, more than 8 MiB) is an error here, not at commit. Put needs no read.
func (s *Session) Put(key string, v any) error {
	if err := checkKey(key); err != nil {
		return err
	}
	t, b, err := bson.MarshalValue(v)
	if err != nil {
		return fmt.Errorf("mongosession: Put %q: value cannot be stored as BSON: %w", key, err)
	}
	if len(b) > maxValueSize {
		return fmt.Errorf("mongosession: Put %q: value of %d bytes is larger than %d", key, len(b), maxValueSize)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setLocked(key, Change{Op: OpSet, Value: bson.RawValue{Type: t, Value: b}})
	return nil
}

// Delete removes key. It needs no read.
func (s *Session) Delete(key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setLocked(key, Change{Op: OpUnset})
	return nil
}

// Incr adds delta to the integer at key (a missing key counts as 0) and returns the value this request
// sees. The addition is applied atomically at commit ($inc), so parallel requests never lose an increment;
// the returned value may therefore be behind the stored one when another request increments at the same
// time. Incr reads the session (to return a value).
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
	cur, ok := s.viewLocked(key)
	n, isNum := int64Of(cur)
	if ok && !isNum {
		return 0, fmt.Errorf("%w: Incr %q: stored value is %s", ErrType, key, cur.Type)
	}
	switch ch, changed := s.changes[key]; {
	case changed && ch.Op == OpInc:
		ch.Delta += delta
		s.changes[key] = ch
	case changed: // a Put or Delete earlier in this request: the result is a plain set
		s.setLocked(key, Change{Op: OpSet, Value: rawValue(n + delta)})
	default:
		s.setLocked(key, Change{Op: OpInc, Delta: delta})
	}
	return n + delta, nil
}

// Clear removes every key. It reads the session (to know the keys).
func (s *Session) Clear() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.loadLocked(); err != nil {
		return err
	}
	s.changes = nil
	if s.rec != nil {
		for k := range s.rec.Data {
			s.setLocked(k, Change{Op: OpUnset})
		}
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
	var keys []string
	seen := map[string]bool{}
	add := func(k string) {
		if _, ok := s.viewLocked(k); ok && !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	if s.rec != nil {
		for k := range s.rec.Data {
			add(k)
		}
	}
	for k := range s.changes {
		add(k)
	}
	sort.Strings(keys)
	return keys, nil
}

// Exists reports whether key is set.
func (s *Session) Exists(key string) (bool, error) {
	_, ok, err := s.value(key)
	return ok, err
}

// Get returns the value at key decoded into Go's default types (documents become bson.D), or nil.
func (s *Session) Get(key string) (any, error) {
	v, ok, err := s.value(key)
	if err != nil || !ok {
		return nil, err
	}
	var out any
	if err := v.Unmarshal(&out); err != nil {
		return nil, fmt.Errorf("mongosession: Get %q: %w", key, err)
	}
	return out, nil
}

// Decode decodes the value at key into out, as bson.Unmarshal would. A missing key leaves out unchanged and
// returns nil; use Exists to tell.
func (s *Session) Decode(key string, out any) error {
	v, ok, err := s.value(key)
	if err != nil || !ok {
		return err
	}
	if err := v.Unmarshal(out); err != nil {
		return fmt.Errorf("mongosession: Decode %q: %w", key, err)
	}
	return nil
}

func typeErr(op, key string, v bson.RawValue) error {
	return fmt.Errorf("%w: %s %q: stored value is %s", ErrType, op, key, v.Type)
}

// GetString returns the string at key, or "" if the key is missing.
func (s *Session) GetString(key string) (string, error) {
	v, ok, err := s.value(key)
	if err != nil || !ok {
		return "", err
	}
	str, isStr := v.StringValueOK()
	if !isStr {
		return "", typeErr("GetString", key, v)
	}
	return str, nil
}

func int64Of(v bson.RawValue) (int64, bool) {
	if n, ok := v.AsInt64OK(); ok && v.Type != bson.TypeDouble {
		return n, true
	}
	if f, ok := v.DoubleOK(); ok && f == math.Trunc(f) && math.Abs(f) < 1<<63 {
		return int64(f), true
	}
	return 0, false
}

// GetInt64 returns the integer at key (int32, int64, or a double without fraction), or 0 if missing.
func (s *Session) GetInt64(key string) (int64, error) {
	v, ok, err := s.value(key)
	if err != nil || !ok {
		return 0, err
	}
	n, isNum := int64Of(v)
	if !isNum {
		return 0, typeErr("GetInt64", key, v)
	}
	return n, nil
}

// GetFloat64 returns the number at key, or 0 if missing.
func (s *Session) GetFloat64(key string) (float64, error) {
	v, ok, err := s.value(key)
	if err != nil || !ok {
		return 0, err
	}
	if f, isF := v.DoubleOK(); isF {
		return f, nil
	}
	if n, isN := v.AsInt64OK(); isN {
		return float64(n), nil
	}
	return 0, typeErr("GetFloat64", key, v)
}

// GetBool returns the boolean at key, or false if missing.
func (s *Session) GetBool(key string) (bool, error) {
	v, ok, err := s.value(key)
	if err != nil || !ok {
		return false, err
	}
	b, isB := v.BooleanOK()
	if !isB {
		return false, typeErr("GetBool", key, v)
	}
	return b, nil
}

// GetTime returns the time at key (BSON stores milliseconds, in UTC), or the zero time if missing.
func (s *Session) GetTime(key string) (time.Time, error) {
	v, ok, err := s.value(key)
	if err != nil || !ok {
		return time.Time{}, err
	}
	ms, isT := v.DateTimeOK()
	if !isT {
		return time.Time{}, typeErr("GetTime", key, v)
	}
	return time.UnixMilli(ms).UTC(), nil
}

// GetBytes returns the bytes at key, or nil if missing.
func (s *Session) GetBytes(key string) ([]byte, error) {
	v, ok, err := s.value(key)
	if err != nil || !ok {
		return nil, err
	}
	_, b, isB := v.BinaryOK()
	if !isB {
		return nil, typeErr("GetBytes", key, v)
	}
	return append([]byte(nil), b...), nil
}

// Renew gives the session a new id and token at commit and retires the old ones, keeping the data.
// Call it after login or any change of privilege (session fixation). It returns ErrHeadersSent once the
// response has started.
func (s *Session) Renew() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sent {
		return ErrHeadersSent
	}
	s.renew = true
	return nil
}

// Destroy deletes the session at commit and clears the cookie (logout). A slower parallel request of the
// same session cannot bring it back. Changes made after Destroy start a new session. It reads the session
// first (if not read yet) to check the token. It returns ErrHeadersSent once the response has started.
func (s *Session) Destroy() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sent {
		return ErrHeadersSent
	}
	// Check the token first: knowing a session id must not be enough to end someone else's session.
	if err := s.loadLocked(); err != nil {
		return err
	}
	if s.state == stateLoaded {
		s.destroy = s.id
	}
	s.state, s.rec, s.changes, s.user, s.renew = stateNone, nil, nil, nil, false
	s.stale = s.destroy != "" || s.sealed || s.stale
	s.cookieMode = cookieMode{}
	return nil
}

// TokenAge returns how long ago the session's newest token was issued (0 for a session that does not exist
// yet). It reads the session. Handy to show rotation at work.
func (s *Session) TokenAge() (time.Duration, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.loadLocked(); err != nil || s.rec == nil {
		return 0, err
	}
	return time.Since(s.rec.Newest().Issued), nil
}
