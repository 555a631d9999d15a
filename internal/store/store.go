// Package store is the storage contract between the session manager and the places sessions are kept. It is
// internal on purpose: the manager's promises (no lost update, all-or-nothing commits, a browser never logged
// out by a parallel request) rest on each store keeping the rules below exactly, with single-document
// atomicity. The MongoDB store (package mongosession) and the in-memory store (internal/memstore, for tests
// and benchmarks of logic that has nothing to do with a database) implement it, and storetest checks both.
package store

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// Store keeps session records. It knows nothing of HTTP: the manager decides what to write and when.
type Store interface {
	// Load finds session id and checks tokenHash and expiry on what it finds (a read by id alone). It
	// returns Found with the record only for a live session whose accepted tokens include tokenHash.
	Load(ctx context.Context, id string, tokenHash []byte, now time.Time) (Loaded, error)
	// LoadByID finds session id without a token (the caller vouches for the id: server-side code that got
	// it from an authenticated request). It returns nil for no live session.
	LoadByID(ctx context.Context, id string, now time.Time) (*Record, error)
	// Insert stores a new session.
	Insert(ctx context.Context, rec *Record) error
	// Commit applies one request's write (see Commit) all or nothing.
	Commit(ctx context.Context, c *Commit) (Outcome, error)
	// Supersede replaces session id (renewed under a new id) by a tombstone that only remembers the retired
	// tokens until the given time: requests still in flight with the old cookie then load Renewed, not Missing.
	// The tombstone is in place before the session disappears. It returns the session as it was when removed
	// (with the changes of parallel requests since it was read), or nil if it was already gone.
	Supersede(ctx context.Context, id string, retired []Token, until time.Time) (*Record, error)
	// Delete removes a session (not its tombstone) and reports whether it existed.
	Delete(ctx context.Context, id string) (bool, error)
	// UserSessions returns the live sessions linked to user, without tokens or data.
	UserSessions(ctx context.Context, user string, now time.Time) ([]*Record, error)
	// DeleteUser deletes the sessions linked to user, except those whose ids are listed, and returns how many.
	DeleteUser(ctx context.Context, user string, except []string) (int64, error)
}

// Token is a token hash and a time: for an accepted token when it was issued, for a retired one when it was
// retired. Only SHA-256 hashes of tokens are ever stored.
type Token struct {
	Hash []byte    `bson:"h"`
	At   time.Time `bson:"at"`
}

// Client describes the client that last wrote a session (kept only when the application asks for it).
type Client struct {
	RemoteAddr string    `bson:"ip,omitempty"`
	UserAgent  string    `bson:"ua,omitempty"`
	Seen       time.Time `bson:"seen"`
}

// Record is a whole session as stored.
type Record struct {
	ID     string
	Tokens []Token // accepted tokens, newest last
	// Parent is the hash of the token presented by the rotation that issued the newest token (nil for a new
	// session): its holder may rotate again if the newest token's cookie never arrived (docs/design.md).
	Parent  []byte
	Retired []Token // recently retired tokens, newest last, bounded
	Data    map[string]bson.RawValue
	User    string
	Client  *Client // nil unless recorded
	// Remember is the session's own choice of a persistent cookie (Session.RememberMe); nil: none made, the
	// manager's option decides.
	Remember *bool
	Created  time.Time
	Absolute time.Time // absolute deadline: no write ever sets Expires past it
	Expires  time.Time // the deadline in force: the idle deadline, capped by Absolute
}

// Newest returns the newest accepted token (the compare-and-set field of a rotation).
func (r *Record) Newest() Token {
	if len(r.Tokens) == 0 {
		return Token{}
	}
	return r.Tokens[len(r.Tokens)-1]
}

// Status says what Load found.
type Status uint8

const (
	// Missing: no live session by that id (never issued, expired, destroyed), or a token it never held.
	Missing Status = iota
	// Found: a live session that accepts the token.
	Found
	// Retired: a live session that retired the token (rotation) at Loaded.RetiredAt. Loaded.Record holds the
	// session: a request that was sent while the token was still accepted may use it.
	Retired
	// Renewed: the id was renewed away (Supersede) at Loaded.RetiredAt, and the token was one of its own.
	Renewed
)

// Loaded is what Load returns.
type Loaded struct {
	Status    Status
	Record    *Record   // for Found and Retired
	RetiredAt time.Time // for Retired and Renewed
	User      string    // for Retired: the user the session is linked to
}

// Op is what a request did to one key.
type Op uint8

// The ops of a Change.
const (
	OpSet   Op = iota + 1 // set the value ($set data.<key>)
	OpUnset               // remove the key ($unset data.<key>)
	OpInc                 // add Delta atomically ($inc data.<key>)
)

// Change is what one request did to one key.
type Change struct {
	Op    Op
	Value bson.RawValue // for OpSet
	Delta int64         // for OpInc
}

// Rotation replaces the token lists if, and only if, the newest token is still ExpectNewest.
type Rotation struct {
	ExpectNewest []byte
	Tokens       []Token // the new accepted list, newest (the new token) last
	Retired      []Token
	Parent       []byte // the hash of the token the rotating request presented
}

// Commit is one request's write, applied all or nothing.
//
// Filters: after a successful read (AuthHash nil) the session is authenticated and the write filters on the id
// alone: a parallel rotation that retires this request's token must not make it miss, and the read checked the
// expiry (no deadline written ever passes the absolute one). A write-only request (AuthHash set: nothing was
// read) also requires that hash among the accepted tokens and an expiry after Now.
//
// With a Rotation, the rotation and the data change apply together (this request rotated: Rotated) or the
// data alone applies (another request rotated first: Applied), never the rotation alone.
type Commit struct {
	ID       string
	Now      time.Time
	AuthHash []byte
	Rotate   *Rotation
	Changes  map[string]Change
	User     *string   // non-nil: set (or, with "", remove) the user link
	Remember *bool     // non-nil: set the session's choice of a persistent cookie
	Client   *Client   // non-nil: record the client
	Expires  time.Time // the new deadline; zero: unchanged
}

// HasChanges reports whether the commit changes the session's data, user link or client (anything that a
// parallel rotation must not prevent).
func (c *Commit) HasChanges() bool {
	return len(c.Changes) > 0 || c.User != nil || c.Remember != nil || c.Client != nil
}

// Outcome tells what a Commit achieved.
type Outcome uint8

const (
	// Gone: nothing matched (the session is gone, or a write-only request's token is not accepted); nothing
	// was written. A rotation without changes that lost its compare-and-set is Gone too: it cannot tell a
	// rotation by another request from a session that is gone, and nothing was lost either way.
	Gone Outcome = iota
	// Applied: the data was written; no rotation (none asked, or another request rotated first).
	Applied
	// Rotated: the rotation and the data were written together.
	Rotated
)

// ErrNotANumber is returned by AddInt for a value $inc cannot add to.
var ErrNotANumber = errors.New("value is not a number")

// ErrOverflow is returned by AddInt when the sum does not fit in an int64.
var ErrOverflow = errors.New("integer overflow")

// AddInt adds delta to v as $inc does with an int64 increment: a missing value counts as 0, int32 and int64
// become int64, a double stays a double.
func AddInt(v bson.RawValue, delta int64) (bson.RawValue, error) {
	switch v.Type {
	case 0:
		return bson.RawValue{Type: bson.TypeInt64, Value: bsoncore.AppendInt64(nil, delta)}, nil
	case bson.TypeDouble:
		return bson.RawValue{Type: bson.TypeDouble, Value: bsoncore.AppendDouble(nil, v.Double()+float64(delta))}, nil
	case bson.TypeInt32, bson.TypeInt64:
		n := v.AsInt64()
		sum := n + delta
		if (delta > 0 && sum < n) || (delta < 0 && sum > n) {
			return bson.RawValue{}, ErrOverflow
		}
		return bson.RawValue{Type: bson.TypeInt64, Value: bsoncore.AppendInt64(nil, sum)}, nil
	}
	return bson.RawValue{}, ErrNotANumber
}
