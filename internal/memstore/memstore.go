// Package memstore keeps sessions in memory, for tests and benchmarks of logic that has nothing to do with the
// database. It follows the storage contract (package store) as the MongoDB store does, and storetest checks
// both, but it keeps nothing across restarts and is not shared between processes.
package memstore

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/mongosession/mongosession/internal/store"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Store is an in-memory store.Store. The zero value is ready to use.
type Store struct {
	mu    sync.Mutex
	recs  map[string]*store.Record
	tombs map[string]tomb
}

type tomb struct {
	retired []store.Token
	until   time.Time
}

// New returns an empty Store.
func New() *Store { return &Store{} }

func indexOf(tokens []store.Token, hash []byte) int {
	return slices.IndexFunc(tokens, func(t store.Token) bool { return string(t.Hash) == string(hash) })
}

// Load implements store.Store. The record returned shares Tokens, Retired and Data with the store: neither the
// store nor the manager changes them in place (a rotation replaces the slices whole; Commit copies Data), so a
// read costs one allocation.
func (s *Store) Load(_ context.Context, id string, hash []byte, now time.Time) (store.Loaded, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.recs[id]; ok {
		switch {
		case !r.Expires.After(now):
		case indexOf(r.Tokens, hash) >= 0:
			c := *r
			return store.Loaded{Status: store.Found, Record: &c}, nil
		case indexOf(r.Retired, hash) >= 0:
			c := *r
			return store.Loaded{Status: store.Retired, RetiredAt: r.Retired[indexOf(r.Retired, hash)].At, User: r.User, Record: &c}, nil
		}
		return store.Loaded{}, nil
	}
	if t, ok := s.tombs[id]; ok && t.until.After(now) {
		if i := indexOf(t.retired, hash); i >= 0 {
			return store.Loaded{Status: store.Renewed, RetiredAt: t.retired[i].At}, nil
		}
	}
	return store.Loaded{}, nil
}

// LoadByID implements store.Store.
func (s *Store) LoadByID(_ context.Context, id string, now time.Time) (*store.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.recs[id]; ok && r.Expires.After(now) {
		c := *r
		return &c, nil
	}
	return nil, nil
}

// Insert implements store.Store.
func (s *Store) Insert(_ context.Context, rec *store.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.recs == nil {
		s.recs = map[string]*store.Record{}
	}
	c := *rec
	c.Data = maps.Clone(rec.Data)
	s.recs[rec.ID] = &c
	return nil
}

// Supersede implements store.Store.
func (s *Store) Supersede(_ context.Context, id string, retired []store.Token, until time.Time) (*store.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tombs == nil {
		s.tombs = map[string]tomb{}
	}
	s.tombs[id] = tomb{retired: retired, until: until}
	r := s.recs[id]
	delete(s.recs, id)
	return r, nil
}

// Delete implements store.Store.
func (s *Store) Delete(_ context.Context, id string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.recs[id]
	delete(s.recs, id)
	return ok, nil
}

// UserSessions implements store.Store.
func (s *Store) UserSessions(_ context.Context, user string, now time.Time) ([]*store.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*store.Record
	for _, r := range s.recs {
		if r.User == user && r.Expires.After(now) {
			c := *r
			c.Tokens, c.Retired, c.Data = nil, nil, nil
			out = append(out, &c)
		}
	}
	return out, nil
}

// DeleteUser implements store.Store.
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

// Commit implements store.Store with the same filters as the MongoDB store.
func (s *Store) Commit(_ context.Context, c *store.Commit) (store.Outcome, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.recs[c.ID]
	if !ok || c.AuthHash != nil && (indexOf(r.Tokens, c.AuthHash) < 0 || !r.Expires.After(c.Now)) {
		return store.Gone, nil
	}
	rotate := c.Rotate != nil && string(r.Newest().Hash) == string(c.Rotate.ExpectNewest)
	if c.Rotate != nil && !rotate && !c.HasChanges() {
		return store.Gone, nil
	}
	data := maps.Clone(r.Data)
	if data == nil {
		data = map[string]bson.RawValue{}
	}
	for k, ch := range c.Changes {
		switch ch.Op {
		case store.OpSet:
			data[k] = ch.Value
		case store.OpUnset:
			delete(data, k)
		case store.OpInc:
			v, err := store.AddInt(data[k], ch.Delta)
			if err != nil {
				return store.Gone, err // nothing applied: the record is only replaced below
			}
			data[k] = v
		}
	}
	n := *r
	n.Data = data
	if c.User != nil {
		n.User = *c.User
	}
	if c.Remember != nil {
		n.Remember = c.Remember
	}
	if c.Client != nil {
		cl := *c.Client
		n.Client = &cl
	}
	if !c.Expires.IsZero() {
		n.Expires = c.Expires
	}
	out := store.Applied
	if rotate {
		n.Tokens, n.Retired, n.Parent, out = c.Rotate.Tokens, c.Rotate.Retired, c.Rotate.Parent, store.Rotated
	}
	s.recs[c.ID] = &n
	return out, nil
}

// Len returns how many sessions the store holds.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.recs)
}
