// Package memstore keeps mongosession sessions in memory. It is meant for tests and benchmarks of code that
// has nothing to do with the database; it follows the same rules as the MongoDB store (filters, compare-and-set
// rotation, per-key changes) but keeps nothing across restarts and is not shared between processes.
package memstore

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/mongosession/mongosession"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Store is an in-memory mongosession.Store. The zero value is ready to use.
type Store struct {
	mu   sync.Mutex
	recs map[string]*mongosession.Record
}

// New returns an empty Store.
func New() *Store { return &Store{} }

func accepts(r *mongosession.Record, hash []byte) bool {
	for _, t := range r.Tokens {
		if string(t.Hash) == string(hash) {
			return true
		}
	}
	return false
}

// clone copies r for the caller. Tokens, Retired and Data are shared: neither the store nor a Session
// changes them in place (a rotation replaces both slices whole; Commit here and a Session after its commit
// copy Data before changing it), so Load costs one allocation.
func clone(r *mongosession.Record) *mongosession.Record {
	c := *r
	return &c
}

// Load implements mongosession.Store.
func (s *Store) Load(_ context.Context, id string, hash []byte, now time.Time) (*mongosession.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.recs[id]
	if !ok || !r.Expires().After(now) {
		return nil, mongosession.ErrNotFound
	}
	if !accepts(r, hash) {
		if slices.ContainsFunc(r.Retired, func(h []byte) bool { return string(h) == string(hash) }) {
			return nil, mongosession.ErrRetired
		}
		return nil, mongosession.ErrNotFound
	}
	return clone(r), nil
}

// Insert implements mongosession.Store.
func (s *Store) Insert(_ context.Context, rec *mongosession.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.recs == nil {
		s.recs = map[string]*mongosession.Record{}
	}
	c := *rec // the caller's slices and map may change: the store keeps its own
	c.Tokens, c.Retired, c.Data = slices.Clone(rec.Tokens), slices.Clone(rec.Retired), maps.Clone(rec.Data)
	if c.Data == nil {
		c.Data = map[string]bson.RawValue{}
	}
	s.recs[rec.ID] = &c
	return nil
}

// Delete implements mongosession.Store.
func (s *Store) Delete(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.recs, id)
	return nil
}

// UserSessions implements mongosession.Store.
func (s *Store) UserSessions(_ context.Context, user string, now time.Time) ([]*mongosession.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*mongosession.Record
	for _, r := range s.recs {
		if r.User == user && r.Expires().After(now) {
			out = append(out, clone(r))
		}
	}
	return out, nil
}

// DeleteUser implements mongosession.Store.
func (s *Store) DeleteUser(_ context.Context, user string, except []string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for id, r := range s.recs {
		if r.User == user && !slices.Contains(except, id) {
			delete(s.recs, id)
			n++
		}
	}
	return n, nil
}

// Len returns the number of stored sessions, expired ones included.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.recs)
}

// Commit implements mongosession.Store with the same two statements as the MongoDB store.
func (s *Store) Commit(_ context.Context, c *mongosession.Commit) (mongosession.CommitResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var res mongosession.CommitResult
	r, ok := s.recs[c.ID]
	live := ok && r.Expires().After(c.Now)
	if c.Rotate != nil && live && string(r.Newest().Hash) == string(c.Rotate.ExpectNewest) {
		r.Tokens, r.Retired = slices.Clone(c.Rotate.Tokens), slices.Clone(c.Rotate.Retired)
		setDeadlines(r, c)
		r.Version++
		res.Rotated = true
	}
	if !c.HasData() {
		res.Found = res.Rotated
		return res, nil
	}
	if !live || (c.AuthHash != nil && !accepts(r, c.AuthHash)) {
		return res, nil
	}
	res.Found = true
	r.Data = maps.Clone(r.Data) // copy on write: records returned by Load share the old map
	for k, ch := range c.Changes {
		switch ch.Op {
		case mongosession.OpSet:
			r.Data[k] = ch.Value
		case mongosession.OpUnset:
			delete(r.Data, k)
		case mongosession.OpInc:
			n, _ := r.Data[k].AsInt64OK()
			t, b, _ := bson.MarshalValue(n + ch.Delta)
			r.Data[k] = bson.RawValue{Type: t, Value: b}
		}
	}
	if c.User != nil {
		r.User = *c.User
	}
	if c.Client != nil {
		r.Client = *c.Client
	}
	setDeadlines(r, c)
	r.Version++
	return res, nil
}

func setDeadlines(r *mongosession.Record, c *mongosession.Commit) {
	if !c.Seen.IsZero() {
		r.Seen = c.Seen
	}
	if !c.Idle.IsZero() {
		r.Idle = c.Idle
	}
}
