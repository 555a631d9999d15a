// Package storetest checks that a store keeps the storage contract of package store: the statuses Load
// reports, the filters of Commit, its compare-and-set rotation and all-or-nothing outcome, and Supersede.
// Both stores run it: the MongoDB store against a real server, the memory store in memory.
package storetest

import (
	"context"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/mongosession/mongosession/internal/store"
	"go.mongodb.org/mongo-driver/v2/bson"
)

func hash(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

func raw(v any) bson.RawValue {
	t, b, err := bson.MarshalValue(v)
	if err != nil {
		panic(err)
	}
	return bson.RawValue{Type: t, Value: b}
}

// Run runs the contract's checks against the stores newStore returns (a fresh, empty one per call).
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	ctx := context.Background()
	now := time.Now().Truncate(time.Millisecond)
	newRec := func(id string) *store.Record {
		return &store.Record{ID: id, Tokens: []store.Token{{Hash: hash("a"), At: now}, {Hash: hash("b"), At: now}},
			Retired: []store.Token{{Hash: hash("old"), At: now.Add(-time.Minute)}},
			Data:    map[string]bson.RawValue{"n": raw(int64(1)), "s": raw("x")}, User: "ada",
			Created: now, Absolute: now.Add(2 * time.Hour), Expires: now.Add(time.Hour)}
	}
	insert := func(t *testing.T, s store.Store, rec *store.Record) {
		t.Helper()
		if err := s.Insert(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	load := func(t *testing.T, s store.Store, id, token string, at time.Time) store.Loaded {
		t.Helper()
		l, err := s.Load(ctx, id, hash(token), at)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}

	t.Run("Load", func(t *testing.T) {
		s := newStore(t)
		insert(t, s, newRec("load"))
		for _, tc := range []struct {
			id, token string
			at        time.Time
			want      store.Status
		}{
			{"load", "b", now, store.Found}, {"load", "a", now, store.Found}, {"load", "old", now, store.Retired},
			{"load", "never", now, store.Missing}, {"nope", "a", now, store.Missing},
			{"load", "a", now.Add(time.Hour), store.Missing}, // the deadline is checked on the document
		} {
			if got := load(t, s, tc.id, tc.token, tc.at); got.Status != tc.want {
				t.Errorf("Load(%s, %s, %v) = %v, want %v", tc.id, tc.token, tc.at.Sub(now), got.Status, tc.want)
			}
		}
		l := load(t, s, "load", "a", now)
		if l.Record.User != "ada" || len(l.Record.Data) != 2 || !l.Record.Expires.Equal(now.Add(time.Hour)) ||
			!l.Record.Absolute.Equal(now.Add(2*time.Hour)) || !l.Record.Created.Equal(now) || len(l.Record.Tokens) != 2 {
			t.Errorf("Load returned %+v", l.Record)
		}
		if r := load(t, s, "load", "old", now); !r.RetiredAt.Equal(now.Add(-time.Minute)) {
			t.Errorf("retired at %v", r.RetiredAt)
		}
	})

	t.Run("Commit filters", func(t *testing.T) {
		s := newStore(t)
		insert(t, s, newRec("c"))
		set := map[string]store.Change{"k": {Op: store.OpSet, Value: raw("v")}, "n": {Op: store.OpInc, Delta: 2},
			"s": {Op: store.OpUnset}}
		for _, tc := range []struct {
			name string
			c    store.Commit
			want store.Outcome
		}{
			{"write-only, unknown token", store.Commit{ID: "c", Now: now, AuthHash: hash("never"), Changes: set}, store.Gone},
			{"write-only, expired", store.Commit{ID: "c", Now: now.Add(time.Hour), AuthHash: hash("a"), Changes: set}, store.Gone},
			{"after a read, missing id", store.Commit{ID: "nope", Now: now, Changes: set}, store.Gone},
			{"write-only, accepted token", store.Commit{ID: "c", Now: now, AuthHash: hash("a"), Changes: set}, store.Applied},
		} {
			if got, err := s.Commit(ctx, &tc.c); err != nil || got != tc.want {
				t.Errorf("%s: %v, %v; want %v", tc.name, got, err, tc.want)
			}
		}
		user := ""
		if got, err := s.Commit(ctx, &store.Commit{ID: "c", Now: now, User: &user, Expires: now.Add(90 * time.Minute),
			Client: &store.Client{RemoteAddr: "192.0.2.1", UserAgent: "ua", Seen: now}}); err != nil || got != store.Applied {
			t.Fatalf("after a read (id alone): %v, %v", got, err)
		}
		r := load(t, s, "c", "a", now).Record
		_, unset := r.Data["s"]
		if got := fmt.Sprintf("%v %d %v %q %v %v", r.Data["k"], r.Data["n"].AsInt64(), unset, r.User, r.Expires.Sub(now),
			r.Client != nil && r.Client.RemoteAddr == "192.0.2.1"); got != `"v" 3 false "" 1h30m0s true` {
			t.Errorf("after the commits: %s", got)
		}
	})

	t.Run("Rotation is a compare-and-set, all or nothing", func(t *testing.T) {
		s := newStore(t)
		insert(t, s, newRec("r"))
		rot := func(newToken string) *store.Rotation {
			return &store.Rotation{ExpectNewest: hash("b"), Tokens: []store.Token{{Hash: hash("b"), At: now}, {Hash: hash(newToken), At: now}},
				Retired: []store.Token{{Hash: hash("a"), At: now}}, Parent: hash("b")}
		}
		inc := map[string]store.Change{"n": {Op: store.OpInc, Delta: 1}}
		if got, err := s.Commit(ctx, &store.Commit{ID: "r", Now: now, Rotate: rot("c1"), Changes: inc, Expires: now.Add(time.Hour)}); err != nil || got != store.Rotated {
			t.Fatalf("first rotation: %v, %v", got, err)
		}
		if got, err := s.Commit(ctx, &store.Commit{ID: "r", Now: now, Rotate: rot("c2"), Changes: inc, Expires: now.Add(time.Hour)}); err != nil || got != store.Applied {
			t.Fatalf("second rotation from the same read: %v, %v; want the changes alone", got, err)
		}
		if got, err := s.Commit(ctx, &store.Commit{ID: "r", Now: now, Rotate: rot("c3"), Expires: now.Add(time.Hour)}); err != nil || got != store.Gone {
			t.Fatalf("a lost rotation without changes: %v, %v; want Gone", got, err)
		}
		if l := load(t, s, "r", "c1", now); l.Status != store.Found || l.Record.Data["n"].AsInt64() != 3 {
			t.Fatalf("after two commits from one read: %+v", l)
		}
		for _, tok := range []string{"c2", "c3"} {
			if load(t, s, "r", tok, now).Status != store.Missing {
				t.Errorf("a losing rotation's token %s is accepted", tok)
			}
		}
		if load(t, s, "r", "a", now).Status != store.Retired {
			t.Error("the rotation did not retire a")
		}
		if l := load(t, s, "r", "c1", now); string(l.Record.Parent) != string(hash("b")) {
			t.Errorf("the rotation's parent is %x, want the hash of b", l.Record.Parent)
		}
		// A failing change ($inc on a string) applies nothing: no rotation either.
		_, err := s.Commit(ctx, &store.Commit{ID: "r", Now: now, Changes: map[string]store.Change{"s": {Op: store.OpInc, Delta: 1}},
			Rotate: &store.Rotation{ExpectNewest: hash("c1"), Tokens: []store.Token{{Hash: hash("c1"), At: now}, {Hash: hash("c4"), At: now}}}})
		if err == nil {
			t.Fatal("$inc on a string succeeded")
		}
		if load(t, s, "r", "c4", now).Status != store.Missing || load(t, s, "r", "b", now).Status != store.Found {
			t.Fatal("a failed commit rotated the token")
		}
	})

	t.Run("Supersede", func(t *testing.T) {
		s := newStore(t)
		insert(t, s, newRec("old"))
		if _, err := s.Commit(ctx, &store.Commit{ID: "old", Now: now, Changes: map[string]store.Change{"n": {Op: store.OpInc, Delta: 5}}}); err != nil {
			t.Fatal(err)
		}
		final, err := s.Supersede(ctx, "old", []store.Token{{Hash: hash("a"), At: now}, {Hash: hash("b"), At: now}}, now.Add(time.Minute))
		if err != nil || final == nil || final.Data["n"].AsInt64() != 6 {
			t.Fatalf("Supersede returned %+v, %v; want the session with the parallel change", final, err)
		}
		if l := load(t, s, "old", "b", now); l.Status != store.Renewed || !l.RetiredAt.Equal(now) {
			t.Fatalf("a renewed-away token loads %+v, want Renewed", l)
		}
		if load(t, s, "old", "never", now).Status != store.Missing || load(t, s, "old", "b", now.Add(time.Minute)).Status != store.Missing {
			t.Fatal("the tombstone answers for a token it never held, or after its grace")
		}
		if got, err := s.Commit(ctx, &store.Commit{ID: "old", Now: now, Changes: map[string]store.Change{"k": {Op: store.OpSet, Value: raw(1)}}}); err != nil || got != store.Gone {
			t.Fatalf("a write to a renewed-away session: %v, %v; want Gone", got, err)
		}
		if final, err := s.Supersede(ctx, "old", nil, now.Add(time.Minute)); err != nil || final != nil {
			t.Fatalf("superseding it again: %v, %v; want nil (already gone)", final, err)
		}
	})

	t.Run("Delete and users", func(t *testing.T) {
		s := newStore(t)
		for _, id := range []string{"u1", "u2", "u3"} {
			insert(t, s, newRec(id))
		}
		recs, err := s.UserSessions(ctx, "ada", now)
		if err != nil || len(recs) != 3 || recs[0].User != "ada" {
			t.Fatalf("UserSessions: %d, %v", len(recs), err)
		}
		if n, err := s.DeleteUser(ctx, "ada", []string{"u1"}); err != nil || n != 2 {
			t.Fatalf("DeleteUser: %d, %v", n, err)
		}
		if ok, err := s.Delete(ctx, "u1"); err != nil || !ok {
			t.Fatalf("Delete of a session: %v, %v", ok, err)
		}
		if ok, err := s.Delete(ctx, "u1"); err != nil || ok {
			t.Fatalf("Delete of a missing session: %v, %v", ok, err)
		}
	})
}
