package mongosession

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// MongoStore keeps one document per session in a MongoDB collection:
//
//	{_id, tokens: [{h, at}], newest, retired: [h], data: {key: value}, user, created, seen, idle, absolute,
//	 expires, v}
//
// Every lookup is by _id (the shard key on a sharded cluster should be hashed _id). Only SHA-256 hashes of
// tokens are stored.
type MongoStore struct {
	coll *mongo.Collection

	purgeInterval time.Duration
	purgeBatch    int
	timeout       time.Duration
	stop          chan struct{}
	done          chan struct{}
	closeOnce     sync.Once
	ttl           bool
}

// StoreOption configures NewMongoStore.
type StoreOption func(*MongoStore)

// WithPurgeInterval sets how often the background purge runs when the server has no TTL indexes.
// Default 1 minute. A pass that takes long stretches the wait to ten times its duration, so the purge never
// occupies the server more than a tenth of the time.
func WithPurgeInterval(d time.Duration) StoreOption {
	return func(s *MongoStore) { s.purgeInterval = d }
}

// WithPurgeBatch sets how many expired sessions one purge step deletes at most. Default 1000.
func WithPurgeBatch(n int) StoreOption { return func(s *MongoStore) { s.purgeBatch = n } }

// createTTLIndex is a variable so that tests can fake the server's answer.
var createTTLIndex = func(ctx context.Context, coll *mongo.Collection) error {
	_, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "expires", Value: 1}},
		Options: options.Index().SetName("expires_ttl").SetExpireAfterSeconds(0),
	})
	return err
}

// NewMongoStore prepares coll for sessions: it creates a TTL index on expires where the server supports it,
// and otherwise starts a background purge of expired sessions (bounded batches) that Close stops.
func NewMongoStore(ctx context.Context, coll *mongo.Collection, opts ...StoreOption) (*MongoStore, error) {
	s := &MongoStore{coll: coll, purgeInterval: time.Minute, purgeBatch: 1000, timeout: time.Minute,
		stop: make(chan struct{}), done: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	if s.purgeInterval <= 0 || s.purgeBatch <= 0 {
		return nil, errors.New("mongosession: purge interval and batch must be positive")
	}
	// Per-user queries (Manager.Sessions, RevokeUser) are indexed, not scans.
	if _, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys: bson.D{{Key: "user", Value: 1}}, Options: options.Index().SetName("user"),
	}); err != nil {
		return nil, fmt.Errorf("mongosession: create user index: %w", err)
	}
	err := createTTLIndex(ctx, coll)
	switch {
	case err == nil:
		s.ttl = true
		close(s.done)
	case notImplemented(err):
		// FerretDB 1.x and some other MongoDB-protocol servers have no TTL indexes.
		if _, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{
			Keys: bson.D{{Key: "expires", Value: 1}}, Options: options.Index().SetName("expires"),
		}); err != nil {
			return nil, fmt.Errorf("mongosession: create expires index: %w", err)
		}
		go s.purgeLoop()
	default:
		return nil, fmt.Errorf("mongosession: create TTL index: %w", err)
	}
	return s, nil
}

// notImplemented recognises a server that refuses TTL indexes.
func notImplemented(err error) bool {
	var se mongo.ServerError
	if !errors.As(err, &se) {
		return false
	}
	var ce mongo.CommandError
	if errors.As(err, &ce) && (ce.Name == "NotImplemented" || ce.Name == "CommandNotFound") {
		return true
	}
	return se.HasErrorCode(238) || se.HasErrorCode(59) || se.HasErrorCode(115) // NotImplemented, CommandNotFound, CommandNotSupported
}

// UsesTTLIndex reports whether expired sessions are removed by the server's TTL index (true) or by the
// store's background purge (false).
func (s *MongoStore) UsesTTLIndex() bool { return s.ttl }

// Close stops the background purge, if any. It does not disconnect the client.
func (s *MongoStore) Close() error {
	s.closeOnce.Do(func() { close(s.stop) })
	<-s.done
	return nil
}

func (s *MongoStore) purgeLoop() {
	defer close(s.done)
	wait := s.purgeInterval
	for {
		select {
		case <-s.stop:
			return
		case <-time.After(wait):
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
			_, _ = s.Purge(ctx) // the next pass tries again
			cancel()
			// A server without TTL indexes may also scan for expired documents (FerretDB 1.x does, and its
			// development front blocks every other command meanwhile): keep the purge under a tenth of the time.
			wait = max(s.purgeInterval, 10*time.Since(start))
		}
	}
}

// Purge deletes expired sessions in batches of the purge batch size until none is left or ctx ends.
// It returns how many it deleted.
func (s *MongoStore) Purge(ctx context.Context) (int64, error) {
	var total int64
	for {
		now := time.Now()
		cur, err := s.coll.Find(ctx, bson.D{{Key: "expires", Value: bson.D{{Key: "$lte", Value: now}}}},
			options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(s.purgeBatch)))
		if err != nil {
			return total, err
		}
		var ids []struct {
			ID string `bson:"_id"`
		}
		if err := cur.All(ctx, &ids); err != nil {
			return total, err
		}
		if len(ids) == 0 {
			return total, nil
		}
		in := make(bson.A, len(ids))
		for i, d := range ids {
			in[i] = d.ID
		}
		res, err := s.coll.DeleteMany(ctx, bson.D{
			{Key: "_id", Value: bson.D{{Key: "$in", Value: in}}},
			{Key: "expires", Value: bson.D{{Key: "$lte", Value: now}}},
		})
		if err != nil {
			return total, err
		}
		total += res.DeletedCount
		if len(ids) < s.purgeBatch {
			return total, nil
		}
	}
}

type mongoDoc struct {
	ID       string     `bson:"_id"`
	Tokens   []Token    `bson:"tokens"`
	Newest   []byte     `bson:"newest"`
	Retired  [][]byte   `bson:"retired"`
	Data     bson.Raw   `bson:"data"`
	User     string     `bson:"user,omitempty"`
	Client   ClientInfo `bson:"client,omitempty"`
	Created  time.Time  `bson:"created"`
	Seen     time.Time  `bson:"seen"`
	Idle     time.Time  `bson:"idle"`
	Absolute time.Time  `bson:"absolute"`
	Expires  time.Time  `bson:"expires"`
	Version  int64      `bson:"v"`
}

// Load implements Store: one FindOne by _id alone; the token hash and the expiry are checked on the document
// it returns. The answer is the same as with a filter {_id, tokens.h, expires > now}, but a filter of _id
// alone is the one shape every MongoDB-compatible server answers from its _id index: FerretDB 1.x on SQLite
// pushes down no other filter and scans (and JSON-decodes) the whole collection for it (see bench/RESULTS.md).
func (s *MongoStore) Load(ctx context.Context, id string, tokenHash []byte, now time.Time) (*Record, error) {
	var d mongoDoc
	err := s.coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if !d.Expires.After(now) {
		return nil, ErrNotFound
	}
	if !acceptsToken(d.Tokens, tokenHash) {
		// The same document tells a replayed old cookie from a made-up one: no second read.
		if acceptsHash(d.Retired, tokenHash) {
			return nil, ErrRetired
		}
		return nil, ErrNotFound
	}
	return d.record()
}

func (d *mongoDoc) record() (*Record, error) {
	rec := &Record{ID: d.ID, Tokens: d.Tokens, Retired: d.Retired, User: d.User, Client: d.Client,
		Created: d.Created, Seen: d.Seen, Idle: d.Idle, Absolute: d.Absolute, Version: d.Version,
		Data: make(map[string]bson.RawValue)}
	if len(d.Data) > 0 {
		elems, err := d.Data.Elements()
		if err != nil {
			return nil, fmt.Errorf("mongosession: session data: %w", err)
		}
		for _, e := range elems {
			rec.Data[e.Key()] = e.Value()
		}
	}
	return rec, nil
}

// acceptsToken reports whether hash is among the accepted tokens (compared in constant time).
func acceptsToken(tokens []Token, hash []byte) bool {
	ok := 0
	for _, t := range tokens {
		ok |= subtle.ConstantTimeCompare(t.Hash, hash)
	}
	return ok == 1
}

// acceptsHash reports whether hash is in hashes (compared in constant time).
func acceptsHash(hashes [][]byte, hash []byte) bool {
	ok := 0
	for _, h := range hashes {
		ok |= subtle.ConstantTimeCompare(h, hash)
	}
	return ok == 1
}

// UserSessions implements Store: a query on the indexed user field.
func (s *MongoStore) UserSessions(ctx context.Context, user string, now time.Time) ([]*Record, error) {
	cur, err := s.coll.Find(ctx, bson.D{
		{Key: "user", Value: user},
		{Key: "expires", Value: bson.D{{Key: "$gt", Value: now}}},
	}, options.Find().SetProjection(bson.D{{Key: "tokens", Value: 0}, {Key: "retired", Value: 0}, {Key: "data", Value: 0}}))
	if err != nil {
		return nil, err
	}
	var docs []mongoDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, err
	}
	recs := make([]*Record, 0, len(docs))
	for i := range docs {
		rec, err := docs[i].record()
		if err != nil {
			return nil, err
		}
		recs = append(recs, rec)
	}
	return recs, nil
}

// DeleteUser implements Store: one DeleteMany on the indexed user field.
func (s *MongoStore) DeleteUser(ctx context.Context, user string, except []string) (int64, error) {
	filter := bson.D{{Key: "user", Value: user}}
	if len(except) > 0 {
		filter = append(filter, bson.E{Key: "_id", Value: bson.D{{Key: "$nin", Value: except}}})
	}
	res, err := s.coll.DeleteMany(ctx, filter)
	if err != nil {
		return 0, err
	}
	return res.DeletedCount, nil
}

// Insert implements Store.
func (s *MongoStore) Insert(ctx context.Context, rec *Record) error {
	data := rec.Data
	if data == nil {
		data = map[string]bson.RawValue{}
	}
	_, err := s.coll.InsertOne(ctx, mongoDoc{ID: rec.ID, Tokens: rec.Tokens, Newest: rec.Newest().Hash,
		Retired: rec.Retired, User: rec.User, Client: rec.Client, Created: rec.Created, Seen: rec.Seen, Idle: rec.Idle,
		Absolute: rec.Absolute, Expires: rec.Expires(), Version: rec.Version, Data: mustRaw(data)})
	return err
}

func mustRaw(data map[string]bson.RawValue) bson.Raw {
	b, err := bson.Marshal(data)
	if err != nil {
		// Values were encoded at Put; re-wrapping them as a document cannot fail.
		panic(err)
	}
	return b
}

// Delete implements Store.
func (s *MongoStore) Delete(ctx context.Context, id string) error {
	_, err := s.coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
	return err
}

// Commit implements Store: one write command holding the conditional rotation, then the data change.
func (s *MongoStore) Commit(ctx context.Context, c *Commit) (CommitResult, error) {
	var models []mongo.WriteModel
	live := bson.E{Key: "expires", Value: bson.D{{Key: "$gt", Value: c.Now}}}
	if c.Rotate != nil {
		set := bson.D{
			{Key: "tokens", Value: c.Rotate.Tokens}, // written whole: FerretDB 1.x ignores $slice
			{Key: "newest", Value: c.Rotate.Tokens[len(c.Rotate.Tokens)-1].Hash},
			{Key: "retired", Value: c.Rotate.Retired},
		}
		set = appendDeadlines(set, c)
		models = append(models, mongo.NewUpdateOneModel().
			SetFilter(bson.D{{Key: "_id", Value: c.ID}, {Key: "newest", Value: c.Rotate.ExpectNewest}, live}).
			SetUpdate(bson.D{{Key: "$set", Value: set}, {Key: "$inc", Value: bson.D{{Key: "v", Value: int64(1)}}}}))
	}
	if c.HasData() {
		filter := bson.D{{Key: "_id", Value: c.ID}}
		if c.AuthHash != nil {
			filter = append(filter, bson.E{Key: "tokens.h", Value: c.AuthHash})
		}
		filter = append(filter, live)
		var set, unset bson.D
		inc := bson.D{{Key: "v", Value: int64(1)}}
		for k, ch := range c.Changes {
			switch ch.Op {
			case OpSet:
				set = append(set, bson.E{Key: "data." + k, Value: ch.Value})
			case OpUnset:
				unset = append(unset, bson.E{Key: "data." + k, Value: ""})
			case OpInc:
				inc = append(inc, bson.E{Key: "data." + k, Value: ch.Delta})
			}
		}
		if c.User != nil {
			if *c.User == "" {
				unset = append(unset, bson.E{Key: "user", Value: ""})
			} else {
				set = append(set, bson.E{Key: "user", Value: *c.User})
			}
		}
		if c.Client != nil {
			set = append(set, bson.E{Key: "client", Value: *c.Client})
		}
		set = appendDeadlines(set, c)
		update := bson.D{{Key: "$inc", Value: inc}}
		if len(set) > 0 {
			update = append(update, bson.E{Key: "$set", Value: set})
		}
		if len(unset) > 0 {
			update = append(update, bson.E{Key: "$unset", Value: unset})
		}
		models = append(models, mongo.NewUpdateOneModel().SetFilter(filter).SetUpdate(update))
	}
	if len(models) == 0 {
		return CommitResult{Found: true}, nil
	}
	res, err := s.coll.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(true))
	if err != nil {
		return CommitResult{}, err
	}
	switch {
	case c.Rotate != nil && c.HasData():
		// 2: rotated and written; 1: another request rotated first, data written; 0: session gone.
		return CommitResult{Found: res.MatchedCount >= 1, Rotated: res.MatchedCount == 2}, nil
	case c.Rotate != nil:
		return CommitResult{Found: res.MatchedCount == 1, Rotated: res.MatchedCount == 1}, nil
	default:
		return CommitResult{Found: res.MatchedCount == 1}, nil
	}
}

func appendDeadlines(set bson.D, c *Commit) bson.D {
	if !c.Seen.IsZero() {
		set = append(set, bson.E{Key: "seen", Value: c.Seen})
	}
	if !c.Idle.IsZero() {
		set = append(set, bson.E{Key: "idle", Value: c.Idle})
	}
	if !c.Expires.IsZero() {
		set = append(set, bson.E{Key: "expires", Value: c.Expires})
	}
	return set
}
