package mongosession

import (
	"context"
	"errors"
	"time"
)

// SetUser links the session to a user id at commit (an indexed field), so that Manager.Sessions,
// Manager.RevokeUser and Manager.Revoke reach it. A session in the cookie moves to the database in the same
// commit: a login must be revocable. An empty id removes the link. It needs no read.
func (s *Session) SetUser(userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.user = &userID
}

// User returns the user id the session is linked to ("" if none). It reads the session.
func (s *Session) User() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.loadLocked(); err != nil {
		return "", err
	}
	if s.user != nil {
		return *s.user, nil
	}
	if s.rec == nil {
		return "", nil
	}
	return s.rec.User, nil
}

// SessionInfo describes one live session of a user.
type SessionInfo struct {
	ID   string
	Hash string // SessionHash(ID): how events, log lines and the mongosession command name it
	User string
	// Created is when the session was created (or last renewed).
	Created time.Time
	// LastSeen is when a request last wrote it: recorded with Options.RecordClientInfo; otherwise derived
	// from its idle deadline (exact to a tenth of IdleTimeout).
	LastSeen time.Time
	Expires  time.Time
	// RemoteAddr and UserAgent are recorded only with Options.RecordClientInfo.
	RemoteAddr string
	UserAgent  string
}

// Sessions lists the live sessions linked to userID (an indexed query).
func (m *Manager) Sessions(ctx context.Context, userID string) ([]SessionInfo, error) {
	if userID == "" {
		return nil, errors.New("mongosession: Sessions needs a user id")
	}
	recs, err := m.store.UserSessions(ctx, userID, m.now())
	if err != nil {
		return nil, err
	}
	out := make([]SessionInfo, 0, len(recs))
	for _, r := range recs {
		info := SessionInfo{ID: r.ID, Hash: SessionHash(r.ID), User: r.User, Created: r.Created,
			LastSeen: minTime(r.Expires.Add(-m.opts.IdleTimeout), m.now()), Expires: r.Expires}
		if r.Client != nil {
			info.LastSeen, info.RemoteAddr, info.UserAgent = r.Client.Seen, r.Client.RemoteAddr, r.Client.UserAgent
		}
		out = append(out, info)
	}
	return out, nil
}

// RevokeUser deletes every session of userID except the listed session ids ("log out everywhere", or with
// the current session's ID "log out my other devices"). It returns how many sessions it deleted.
func (m *Manager) RevokeUser(ctx context.Context, userID string, except ...string) (int64, error) {
	if userID == "" {
		return 0, errors.New("mongosession: RevokeUser needs a user id")
	}
	return m.store.DeleteUser(ctx, userID, except)
}

// Revoke deletes one session by id. A request of that session that is running now cannot bring it back.
func (m *Manager) Revoke(ctx context.Context, sessionID string) error {
	_, err := m.store.Delete(ctx, sessionID)
	return err
}
