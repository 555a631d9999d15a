package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/mongosession/mongosession"
)

// revoke deletes sessions and prints how many:
//   - --session ID alone: the session with that raw id;
//   - --user U --session REF: the live session of U that REF names (a hash or a raw id), if any;
//   - --user U [--except REF ...]: every session of U but the named ones.
//
// A hash is resolved among the user's live sessions (an indexed query): it is one-way, and resolving it over
// the whole collection would read every document.
func revoke(ctx context.Context, store *mongosession.MongoStore, c *command, stdout io.Writer) error {
	n, err := deleteSessions(ctx, store, c)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "deleted %d %s\n", n, plural(n))
	return nil
}

func deleteSessions(ctx context.Context, store *mongosession.MongoStore, c *command) (int64, error) {
	if c.user == "" {
		return deleteOne(ctx, store, c.session)
	}
	mgr, err := newManager(store)
	if err != nil {
		return 0, err
	}
	if c.session == "" && len(c.except) == 0 {
		return mgr.RevokeUser(ctx, c.user)
	}
	live, err := mgr.Sessions(ctx, c.user)
	if err != nil {
		return 0, err
	}
	if c.session != "" {
		id, ok := resolve(live, c.session)
		if !ok {
			return 0, nil
		}
		return deleteOne(ctx, store, id)
	}
	except := make([]string, len(c.except))
	for i, ref := range c.except {
		id, ok := resolve(live, ref)
		if !ok {
			// A mistyped --except would log out the very session meant to be kept.
			return 0, fmt.Errorf("--except %s: user %s has no live session with that hash or id; nothing deleted",
				ref, c.user)
		}
		except[i] = id
	}
	return mgr.RevokeUser(ctx, c.user, except...)
}

// deleteOne deletes the session with that raw id and returns how many it deleted (0 or 1).
func deleteOne(ctx context.Context, store *mongosession.MongoStore, id string) (int64, error) {
	existed, err := store.Delete(ctx, id)
	if err != nil || !existed {
		return 0, err
	}
	return 1, nil
}

// resolve returns the id of the session among sessions that ref names: its hash (as list prints it and
// security events name it, in either case) or its raw id.
func resolve(sessions []mongosession.SessionInfo, ref string) (id string, ok bool) {
	for _, s := range sessions {
		if s.ID == ref || strings.EqualFold(mongosession.SessionHash(s.ID), ref) {
			return s.ID, true
		}
	}
	return "", false
}
