package mongosession

import (
	"fmt"
	"time"

	"github.com/mongosession/mongosession/internal/store"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Flash messages: a value put by one request and read once by a later one ("saved", "wrong password").
// Pop reads and deletes in one step; the deletion is one more key in the request's commit, so popping costs
// no database command of its own: the request reads the session (if it had not) and writes once, as any
// request that reads and changes its session does.

// popAs returns the value at key converted by as and deletes the key at commit. A missing key returns the
// zero T and changes nothing; a value of another type is ErrType and stays.
func popAs[T any](s *Session, op, key string, as func(bson.RawValue) (T, bool)) (T, error) {
	var zero T
	if err := checkKey(key); err != nil {
		return zero, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.loadLocked(); err != nil {
		return zero, err
	}
	v, ok := s.view.get(key)
	if !ok {
		return zero, nil
	}
	out, isT := as(v)
	if !isT {
		return zero, typeErr(op, key, v)
	}
	if err := s.writable(); err != nil {
		return zero, err
	}
	s.view.change(key, store.Change{Op: store.OpUnset})
	return out, nil
}

// Pop returns the value at key as Get does and deletes the key at commit (a flash message: shown once). A
// missing key returns nil and changes nothing. It reads the session; it fails as Delete does once the change
// can no longer be stored (ErrHeadersSent, ErrSessionClosed), and then the key stays.
func (s *Session) Pop(key string) (any, error) {
	return popAs(s, "Pop", key, func(v bson.RawValue) (any, bool) {
		out, err := anyOf(v)
		return out, err == nil
	})
}

// PopString is Pop for a string ("" if missing). A value of another type is ErrType and is not deleted.
func (s *Session) PopString(key string) (string, error) { return popAs(s, "PopString", key, stringOf) }

// PopInt64 is Pop for an integer, as GetInt64 reads it (0 if missing). A value of another type is ErrType
// and is not deleted.
func (s *Session) PopInt64(key string) (int64, error) { return popAs(s, "PopInt64", key, int64Of) }

// PopInt is Pop for an integer, as GetInt reads it (0 if missing). A value of another type is ErrType and is
// not deleted.
func (s *Session) PopInt(key string) (int, error) { return popAs(s, "PopInt", key, intOf) }

// PopFloat64 is Pop for a number (0 if missing). A value of another type is ErrType and is not deleted.
func (s *Session) PopFloat64(key string) (float64, error) {
	return popAs(s, "PopFloat64", key, float64Of)
}

// PopBool is Pop for a boolean (false if missing). A value of another type is ErrType and is not deleted.
func (s *Session) PopBool(key string) (bool, error) { return popAs(s, "PopBool", key, boolOf) }

// PopTime is Pop for a time (the zero time if missing). A value of another type is ErrType and is not
// deleted.
func (s *Session) PopTime(key string) (time.Time, error) { return popAs(s, "PopTime", key, timeOf) }

// PopBytes is Pop for bytes (nil if missing). A value of another type is ErrType and is not deleted.
func (s *Session) PopBytes(key string) ([]byte, error) { return popAs(s, "PopBytes", key, bytesOf) }

// PopDecode is Decode followed by deleting the key at commit. A missing key leaves out unchanged and returns
// nil; a value that does not decode into out is an error and is not deleted.
func (s *Session) PopDecode(key string, out any) error {
	var decodeErr error
	_, err := popAs(s, "PopDecode", key, func(v bson.RawValue) (struct{}, bool) {
		decodeErr = v.UnmarshalWithRegistry(valueRegistry, out)
		return struct{}{}, decodeErr == nil
	})
	if decodeErr != nil {
		return fmt.Errorf("mongosession: PopDecode %q: %w", key, decodeErr)
	}
	return err
}
