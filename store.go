package mongosession

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// ErrNotFound is returned by a Store when no live session matches.
var ErrNotFound = errors.New("mongosession: session not found")

// ErrRetired is returned by Store.Load when the token is one of the live session's recently retired tokens:
// a copy of an old cookie is being replayed. errors.Is(ErrRetired, ErrNotFound) holds.
var ErrRetired = fmt.Errorf("%w (the token was retired)", ErrNotFound)

// Store keeps session records. The store knows nothing of HTTP; the Manager decides what to write and when.
// MongoStore is the production implementation; package memstore holds one for tests without a database.
type Store interface {
	// Load returns the live session id whose accepted tokens include tokenHash and whose expiry is after now;
	// otherwise ErrRetired if tokenHash is among its recently retired tokens, or ErrNotFound.
	Load(ctx context.Context, id string, tokenHash []byte, now time.Time) (*Record, error)
	// Insert stores a new session.
	Insert(ctx context.Context, rec *Record) error
	// Commit applies one request's changes in one write (see Commit).
	Commit(ctx context.Context, c *Commit) (CommitResult, error)
	// Delete removes a session. Deleting a missing session is not an error.
	Delete(ctx context.Context, id string) error
	// UserSessions returns the live sessions linked to user (an indexed query).
	UserSessions(ctx context.Context, user string, now time.Time) ([]*Record, error)
	// DeleteUser deletes the sessions linked to user, except those whose ids are listed, and returns how many.
	DeleteUser(ctx context.Context, user string, except []string) (int64, error)
}

// Token is one accepted token, stored only as its SHA-256 hash.
type Token struct {
	Hash   []byte    `bson:"h"`
	Issued time.Time `bson:"at"`
}

// Record is a whole session as stored.
type Record struct {
	ID       string                   // random 128-bit id, base64url
	Tokens   []Token                  // accepted tokens, newest last, at most Options.TokensKept
	Retired  [][]byte                 // hashes of recently retired tokens, newest last, bounded
	Data     map[string]bson.RawValue // the application's values
	User     string                   // optional user id (SetUser)
	Client   ClientInfo               // recorded only with Options.RecordClientInfo
	Created  time.Time
	Seen     time.Time
	Idle     time.Time // idle deadline
	Absolute time.Time // absolute deadline
	Version  int64     // incremented by every write
}

// Expires is the earlier of the two deadlines.
func (r *Record) Expires() time.Time {
	if r.Absolute.Before(r.Idle) {
		return r.Absolute
	}
	return r.Idle
}

// Newest returns the newest accepted token (the compare-and-set field of a rotation).
func (r *Record) Newest() Token {
	if len(r.Tokens) == 0 {
		return Token{}
	}
	return r.Tokens[len(r.Tokens)-1]
}

// ClientInfo describes the client that created or last changed a session.
type ClientInfo struct {
	RemoteAddr string `bson:"ip,omitempty"`
	UserAgent  string `bson:"ua,omitempty"`
}

// Change kinds of one key.
const (
	OpSet   = iota + 1 // $set data.<key>
	OpUnset            // $unset data.<key>
	OpInc              // $inc data.<key>
)

// Change is what one request did to one key.
type Change struct {
	Op    int
	Value bson.RawValue // for OpSet
	Delta int64         // for OpInc
}

// Rotation replaces the token list if, and only if, the newest token is still ExpectNewest.
type Rotation struct {
	ExpectNewest []byte
	Tokens       []Token
	Retired      [][]byte
}

// Commit is one request's write. It becomes one write command: the conditional rotation (if any), then the
// data change (if any). Filters: _id and expiry after Now; a write-only request (AuthHash set) also requires
// that hash among the accepted tokens, because nothing was read to prove it.
type Commit struct {
	ID       string
	Now      time.Time
	AuthHash []byte // non-nil: write-only request, validate the token in the filter
	Rotate   *Rotation
	Changes  map[string]Change
	User     *string     // non-nil: set (or with "" remove) the user link
	Client   *ClientInfo // non-nil: record the client
	Seen     time.Time   // zero: unchanged
	Idle     time.Time   // new idle deadline; zero: unchanged
	Expires  time.Time   // new expiry (the earlier deadline); zero: unchanged
}

// CommitResult tells what a Commit achieved.
type CommitResult struct {
	// Found reports whether the data statement matched; for a rotation alone it equals Rotated (a lost
	// compare-and-set cannot tell a rotation by another request from a session that is gone).
	Found bool
	// Rotated reports whether this commit's rotation won the compare-and-set.
	Rotated bool
}

// HasData reports whether the commit needs its data statement. Deadlines alone ride on the rotation
// statement when there is one.
func (c *Commit) HasData() bool {
	return len(c.Changes) > 0 || c.User != nil || c.Client != nil || (c.Rotate == nil && (!c.Idle.IsZero() || !c.Seen.IsZero()))
}
