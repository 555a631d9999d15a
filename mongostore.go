package mongosession

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mongosession/mongosession/internal/store"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// Store is where a Manager keeps sessions. MongoStore is the implementation; the contract (its filters and
// compare-and-set rules, on which the promise of no lost update and no spurious logout rests) is internal.
type Store = store.Store

// The session document, in one place:
//
//	{_id, tokens: [{h, at}], newest: h, parent: h, retired: binary, data: {key: value}, user, remember,
//	 client: {ip, ua, seen}, created, absolute, expires}
//
// tokens are the accepted token hashes with their issue times, newest last; newest repeats the newest hash as
// the field a rotation compares and sets; parent is the hash the rotation that issued the newest token was
// presented (absent until the first rotation: see docs/design.md, who rotates); retired holds recently retired hashes with their retirement times
// (to recognise a replayed or a merely slow cookie). user, remember (the session's choice of a persistent
// cookie, Session.RememberMe) and client are present only when set. expires is the
// deadline in force (the idle deadline capped by absolute), a BSON date for the TTL index. A session renewed
// away leaves a tombstone {_id: "r:" + id, retired, expires} for a short grace window.
const (
	fieldID       = "_id"
	fieldTokens   = "tokens"
	fieldNewest   = "newest"
	fieldRetired  = "retired"
	fieldData     = "data"
	fieldUser     = "user"
	fieldRemember = "remember"
	fieldClient   = "client"
	fieldCreated  = "created"
	fieldAbsolute = "absolute"
	fieldExpires  = "expires"
	fieldParent   = "parent"
	tombPrefix    = "r:" // never a session id: ids are base64url
)

type mongoDoc struct {
	ID       string        `bson:"_id"`
	Tokens   []store.Token `bson:"tokens,omitempty"`
	Newest   []byte        `bson:"newest,omitempty"`
	Parent   []byte        `bson:"parent,omitempty"`
	Retired  packedTokens  `bson:"retired,omitempty"`
	Data     bson.Raw      `bson:"data,omitempty"`
	User     string        `bson:"user,omitempty"`
	Remember *bool         `bson:"remember,omitempty"`
	Client   *store.Client `bson:"client,omitempty"`
	Created  time.Time     `bson:"created,omitempty"`
	Absolute time.Time     `bson:"absolute,omitempty"`
	Expires  time.Time     `bson:"expires"`
}

// MongoStore keeps one document per session in a MongoDB collection. Every session lookup is by _id alone
// (the shard key on a sharded cluster should be hashed _id); only SHA-256 hashes of tokens are stored. It reads
// from the primary whatever the client's read preference (a secondary may return a token list from before a
// rotation), and every write is a single-document statement, so the driver can retry it.
type MongoStore struct {
	coll *mongo.Collection
	opts StoreOptions
	ttl  bool

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// StoreOptions configure NewMongoStore. Every zero field takes the default stated in its comment.
type StoreOptions struct {
	// PurgeInterval is how often the background purge runs when the server has no TTL indexes. Default
	// 1 minute. A pass that takes long stretches the wait to ten times its duration, so the purge never
	// occupies the server more than a tenth of the time.
	PurgeInterval time.Duration
	// PurgeBatch is how many expired sessions one purge step deletes at most. Default 1000.
	PurgeBatch int
	// PurgeMargin is how long after its expiry a session may be deleted by Purge. Expiry is decided by the
	// application servers' clocks; a server whose clock runs fast must not delete a session that is live for
	// the others (a read still refuses an expired session, so the margin costs only space). Default 24 h:
	// purges tolerate a clock up to 24 h fast. It does not apply to a TTL index, which runs on the database's
	// own clock.
	PurgeMargin time.Duration
	// Clock is the store's clock (for Purge). Default time.Now.
	Clock func() time.Time

	// createTTLIndex replaces the TTL index creation in tests (to fake a server's answer).
	createTTLIndex func(context.Context, *mongo.Collection) error
	// afterPurge, if set, is called after each background purge pass (tests wait on it instead of sleeping).
	afterPurge func(deleted int64, err error)
}

func (o StoreOptions) withDefaults() StoreOptions {
	if o.PurgeInterval == 0 {
		o.PurgeInterval = time.Minute
	}
	if o.PurgeBatch == 0 {
		o.PurgeBatch = 1000
	}
	if o.PurgeMargin == 0 {
		o.PurgeMargin = 24 * time.Hour
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.createTTLIndex == nil {
		o.createTTLIndex = createTTLIndex
	}
	return o
}

func createTTLIndex(ctx context.Context, coll *mongo.Collection) error {
	_, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: fieldExpires, Value: 1}},
		Options: options.Index().SetName("expires_ttl").SetExpireAfterSeconds(0),
	})
	return err
}

// ClientOptions returns the driver options this package recommends for uri: connect and server-selection
// timeouts of 2 s instead of the driver's 30 s, so that after an outage (or a server that accepts connections
// and never answers) requests fail fast with a 503 and the application recovers within about 2 s of the
// database coming back, rather than queueing behind 30-second connection attempts.
func ClientOptions(uri string) *options.ClientOptions {
	return options.Client().ApplyURI(uri).
		SetConnectTimeout(2 * time.Second).
		SetServerSelectionTimeout(2 * time.Second)
}

// NewMongoStore prepares coll for sessions: an index on user, and a TTL index on expires where the server
// supports one; otherwise a plain index and a background purge of expired sessions (bounded batches) that
// Close stops. Connect the client with ClientOptions (or equivalent timeouts) so that outages fail fast.
func NewMongoStore(ctx context.Context, coll *mongo.Collection, opts StoreOptions) (*MongoStore, error) {
	opts = opts.withDefaults()
	if opts.PurgeInterval < 0 || opts.PurgeBatch < 0 || opts.PurgeMargin < 0 {
		return nil, errors.New("mongosession: PurgeInterval, PurgeBatch and PurgeMargin must not be negative")
	}
	coll = coll.Database().Collection(coll.Name(), options.Collection().SetReadPreference(readpref.Primary()))
	s := &MongoStore{coll: coll, opts: opts, stop: make(chan struct{}), done: make(chan struct{})}
	if _, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys: bson.D{{Key: fieldUser, Value: 1}}, Options: options.Index().SetName(fieldUser),
	}); err != nil {
		return nil, fmt.Errorf("mongosession: create user index: %w", err)
	}
	err := opts.createTTLIndex(ctx, coll)
	switch {
	case err == nil:
		s.ttl = true
		close(s.done)
	case notImplemented(err):
		// FerretDB 1.x and some other MongoDB-protocol servers have no TTL indexes.
		if _, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{
			Keys: bson.D{{Key: fieldExpires, Value: 1}}, Options: options.Index().SetName(fieldExpires),
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
	wait := s.opts.PurgeInterval
	for {
		select {
		case <-s.stop:
			return
		case <-time.After(wait):
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			n, err := s.Purge(ctx) // on error the next pass tries again
			cancel()
			if s.opts.afterPurge != nil {
				s.opts.afterPurge(n, err)
			}
			// A server without TTL indexes may also scan for expired documents (FerretDB 1.x does, and its
			// development front blocks every other command meanwhile): keep the purge under a tenth of the time.
			wait = max(s.opts.PurgeInterval, 10*time.Since(start))
		}
	}
}

// Purge deletes sessions (and tombstones) that expired more than PurgeMargin ago, in batches of PurgeBatch,
// until none is left or ctx ends. It returns how many it deleted.
func (s *MongoStore) Purge(ctx context.Context) (int64, error) {
	var total int64
	for {
		before := bson.D{{Key: fieldExpires, Value: bson.D{{Key: "$lte", Value: s.opts.Clock().Add(-s.opts.PurgeMargin)}}}}
		cur, err := s.coll.Find(ctx, before,
			options.Find().SetProjection(bson.D{{Key: fieldID, Value: 1}}).SetLimit(int64(s.opts.PurgeBatch)))
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
		res, err := s.coll.DeleteMany(ctx, append(bson.D{{Key: fieldID, Value: bson.D{{Key: "$in", Value: in}}}}, before...))
		if err != nil {
			return total, err
		}
		total += res.DeletedCount
		if len(ids) < s.opts.PurgeBatch {
			return total, nil
		}
	}
}

// Load implements Store: one FindOne by _id alone; the token hash and the expiry are checked on the document it
// returns. A filter of _id alone is the one shape every MongoDB-compatible server answers from its _id index:
// FerretDB 1.x pushes down no other filter and scans the whole collection for it (see bench/RESULTS.md). Only
// a missing session costs a second read, of its tombstone.
func (s *MongoStore) Load(ctx context.Context, id string, hash []byte, now time.Time) (store.Loaded, error) {
	var d mongoDoc
	err := s.coll.FindOne(ctx, bson.D{{Key: fieldID, Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return s.loadTomb(ctx, id, hash, now)
	}
	if err != nil {
		return store.Loaded{}, err
	}
	switch {
	case !d.Expires.After(now):
		return store.Loaded{}, nil
	case hasToken(d.Tokens, hash):
		rec, err := d.record()
		return store.Loaded{Status: store.Found, Record: rec}, err
	case hasToken(d.Retired, hash):
		rec, err := d.record()
		return store.Loaded{Status: store.Retired, RetiredAt: tokenAt(d.Retired, hash), User: d.User, Record: rec}, err
	}
	return store.Loaded{}, nil
}

// LoadByID implements Store: one FindOne by _id alone, the expiry checked on the document.
func (s *MongoStore) LoadByID(ctx context.Context, id string, now time.Time) (*store.Record, error) {
	var d mongoDoc
	err := s.coll.FindOne(ctx, bson.D{{Key: fieldID, Value: id}}).Decode(&d)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return nil, nil
	case err != nil:
		return nil, err
	case !d.Expires.After(now) || len(d.Tokens) == 0:
		return nil, nil
	}
	return d.record()
}

func (s *MongoStore) loadTomb(ctx context.Context, id string, hash []byte, now time.Time) (store.Loaded, error) {
	var d mongoDoc
	err := s.coll.FindOne(ctx, bson.D{{Key: fieldID, Value: tombPrefix + id}}).Decode(&d)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return store.Loaded{}, nil
	case err != nil:
		return store.Loaded{}, err
	case d.Expires.After(now) && hasToken(d.Retired, hash):
		return store.Loaded{Status: store.Renewed, RetiredAt: tokenAt(d.Retired, hash)}, nil
	}
	return store.Loaded{}, nil
}

func (d *mongoDoc) record() (*store.Record, error) {
	rec := &store.Record{ID: d.ID, Tokens: d.Tokens, Parent: d.Parent, Retired: d.Retired, User: d.User, Remember: d.Remember, Client: d.Client,
		Created: d.Created, Absolute: d.Absolute, Expires: d.Expires, Data: make(map[string]bson.RawValue)}
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

// UserSessions implements Store: a query on the indexed user field.
func (s *MongoStore) UserSessions(ctx context.Context, user string, now time.Time) ([]*store.Record, error) {
	cur, err := s.coll.Find(ctx, bson.D{
		{Key: fieldUser, Value: user},
		{Key: fieldExpires, Value: bson.D{{Key: "$gt", Value: now}}},
	}, options.Find().SetProjection(bson.D{{Key: fieldTokens, Value: 0}, {Key: fieldRetired, Value: 0}, {Key: fieldData, Value: 0}}))
	if err != nil {
		return nil, err
	}
	var docs []mongoDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, err
	}
	recs := make([]*store.Record, 0, len(docs))
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
	filter := bson.D{{Key: fieldUser, Value: user}}
	if len(except) > 0 {
		filter = append(filter, bson.E{Key: fieldID, Value: bson.D{{Key: "$nin", Value: except}}})
	}
	res, err := s.coll.DeleteMany(ctx, filter)
	if err != nil {
		return 0, err
	}
	return res.DeletedCount, nil
}

// Insert implements Store.
func (s *MongoStore) Insert(ctx context.Context, rec *store.Record) error {
	data, err := bson.Marshal(rec.Data)
	if err != nil {
		return err
	}
	_, err = s.coll.InsertOne(ctx, mongoDoc{ID: rec.ID, Tokens: rec.Tokens, Newest: rec.Newest().Hash,
		Retired: rec.Retired, User: rec.User, Remember: rec.Remember, Client: rec.Client, Created: rec.Created,
		Absolute: rec.Absolute, Expires: rec.Expires, Data: data})
	return err
}

// Supersede implements Store: the tombstone first, so that a parallel request that misses the session always
// finds it, then a findAndModify that removes the session and returns it as it was.
func (s *MongoStore) Supersede(ctx context.Context, id string, retired []store.Token, until time.Time) (*store.Record, error) {
	if _, err := s.coll.ReplaceOne(ctx, bson.D{{Key: fieldID, Value: tombPrefix + id}},
		mongoDoc{ID: tombPrefix + id, Retired: retired, Expires: until}, options.Replace().SetUpsert(true)); err != nil {
		return nil, err
	}
	var d mongoDoc
	err := s.coll.FindOneAndDelete(ctx, bson.D{{Key: fieldID, Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return d.record()
}

// Delete implements Store.
func (s *MongoStore) Delete(ctx context.Context, id string) (bool, error) {
	res, err := s.coll.DeleteOne(ctx, bson.D{{Key: fieldID, Value: id}})
	if err != nil {
		return false, err
	}
	return res.DeletedCount == 1, nil
}

// Commit implements Store: one write command. Without a rotation it is one statement. With one, statement 1
// filters on the expected newest token and applies the rotation together with the changes; statement 2, for
// when another request rotated first, filters on "the newest token is not this commit's" and applies the
// changes alone. Each statement is atomic and exactly one of them applies the changes: if statement 1 fails
// (say an $inc on a string), the ordered command stops and nothing is applied. A last statement, which writes
// nothing, matches only if the newest token is now this commit's: the command's matched count (the server
// reports one total) is then 2 for a rotation, 1 for the changes alone and 0 for a session that is gone.
func (s *MongoStore) Commit(ctx context.Context, c *store.Commit) (store.Outcome, error) {
	changes := changesUpdate(c)
	if c.Rotate == nil {
		if len(changes) == 0 {
			return store.Applied, nil
		}
		res, err := s.coll.UpdateOne(ctx, commitFilter(c), changes)
		switch {
		case err != nil:
			return store.Gone, err
		case res.MatchedCount == 0:
			return store.Gone, nil
		}
		return store.Applied, nil
	}
	newest := c.Rotate.Tokens[len(c.Rotate.Tokens)-1].Hash
	isNewest := bson.D{{Key: fieldID, Value: c.ID}, {Key: fieldNewest, Value: newest}}
	models := []mongo.WriteModel{mongo.NewUpdateOneModel().
		SetFilter(bson.D{{Key: fieldID, Value: c.ID}, {Key: fieldNewest, Value: c.Rotate.ExpectNewest}}).
		SetUpdate(withSet(changes, bson.E{Key: fieldTokens, Value: c.Rotate.Tokens}, // whole: FerretDB ignores $slice
			bson.E{Key: fieldNewest, Value: newest}, bson.E{Key: fieldParent, Value: c.Rotate.Parent},
			bson.E{Key: fieldRetired, Value: packedTokens(c.Rotate.Retired)}))}
	if c.HasChanges() {
		models = append(models, mongo.NewUpdateOneModel().
			SetFilter(bson.D{{Key: fieldID, Value: c.ID}, {Key: fieldNewest, Value: bson.D{{Key: "$ne", Value: newest}}}}).
			SetUpdate(changes))
	}
	models = append(models, mongo.NewUpdateOneModel().SetFilter(isNewest).
		SetUpdate(bson.D{{Key: "$set", Value: bson.D{{Key: fieldNewest, Value: newest}}}}))
	res, err := s.coll.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(true))
	switch {
	case err != nil:
		return store.Gone, err
	case res.MatchedCount >= 2:
		return store.Rotated, nil
	case res.MatchedCount == 1 && c.HasChanges():
		return store.Applied, nil
	}
	return store.Gone, nil
}

// commitFilter is the filter of a commit without rotation: _id alone after a read; for a write-only request
// also the token and the expiry, which nothing else has checked.
func commitFilter(c *store.Commit) bson.D {
	if c.AuthHash == nil {
		return bson.D{{Key: fieldID, Value: c.ID}}
	}
	return bson.D{{Key: fieldID, Value: c.ID}, {Key: fieldTokens + ".h", Value: c.AuthHash},
		{Key: fieldExpires, Value: bson.D{{Key: "$gt", Value: c.Now}}}}
}

// changesUpdate is the update document of a commit's changes and deadline (empty if it has none).
func changesUpdate(c *store.Commit) bson.D {
	var set, unset, inc bson.D
	for k, ch := range c.Changes {
		switch ch.Op {
		case store.OpSet:
			set = append(set, bson.E{Key: fieldData + "." + k, Value: ch.Value})
		case store.OpUnset:
			unset = append(unset, bson.E{Key: fieldData + "." + k, Value: ""})
		case store.OpInc:
			inc = append(inc, bson.E{Key: fieldData + "." + k, Value: ch.Delta})
		}
	}
	if c.User != nil {
		if *c.User == "" {
			unset = append(unset, bson.E{Key: fieldUser, Value: ""})
		} else {
			set = append(set, bson.E{Key: fieldUser, Value: *c.User})
		}
	}
	if c.Remember != nil {
		set = append(set, bson.E{Key: fieldRemember, Value: *c.Remember})
	}
	if c.Client != nil {
		set = append(set, bson.E{Key: fieldClient, Value: c.Client})
	}
	if !c.Expires.IsZero() {
		set = append(set, bson.E{Key: fieldExpires, Value: c.Expires})
	}
	var u bson.D
	for _, op := range []bson.E{{Key: "$set", Value: set}, {Key: "$unset", Value: unset}, {Key: "$inc", Value: inc}} {
		if len(op.Value.(bson.D)) > 0 {
			u = append(u, op)
		}
	}
	return u
}

// withSet returns update with the fields added to its $set.
func withSet(update bson.D, fields ...bson.E) bson.D {
	out := make(bson.D, 0, len(update)+1)
	for _, op := range update {
		if op.Key == "$set" {
			fields = append(append(bson.D{}, op.Value.(bson.D)...), fields...)
			continue
		}
		out = append(out, op)
	}
	return append(out, bson.E{Key: "$set", Value: bson.D(fields)})
}

// hasToken reports whether hash is among tokens (compared in constant time).
func hasToken(tokens []store.Token, hash []byte) bool {
	ok := 0
	for _, t := range tokens {
		ok |= subtle.ConstantTimeCompare(t.Hash, hash)
	}
	return ok == 1
}

func tokenAt(tokens []store.Token, hash []byte) time.Time {
	for _, t := range tokens {
		if subtle.ConstantTimeCompare(t.Hash, hash) == 1 {
			return t.At
		}
	}
	return time.Time{}
}

// packedTokens stores retired tokens as one binary value of 40-byte records (the 32-byte hash, then the
// retirement time in Unix milliseconds, big-endian) instead of an array of documents: nothing filters on them,
// and on FerretDB 1.x every find decodes the whole document, where an array of 8 {h, at} documents cost as much
// as the rest of a session (bench/RESULTS.md, field costs).
type packedTokens []store.Token

const packedTokenBytes = sha256.Size + 8

// MarshalBSONValue implements bson.ValueMarshaler.
func (p packedTokens) MarshalBSONValue() (byte, []byte, error) {
	b := make([]byte, 0, len(p)*packedTokenBytes)
	for _, t := range p {
		if len(t.Hash) != sha256.Size {
			return 0, nil, fmt.Errorf("mongosession: a token hash of %d bytes", len(t.Hash))
		}
		b = binary.BigEndian.AppendUint64(append(b, t.Hash...), uint64(t.At.UnixMilli()))
	}
	return byte(bson.TypeBinary), bsoncore.AppendBinary(nil, 0, b), nil
}

// UnmarshalBSONValue implements bson.ValueUnmarshaler.
func (p *packedTokens) UnmarshalBSONValue(typ byte, data []byte) error {
	_, b, _, ok := bsoncore.ReadBinary(data)
	if bson.Type(typ) != bson.TypeBinary || !ok || len(b)%packedTokenBytes != 0 {
		return errors.New("mongosession: retired tokens are not packed binary")
	}
	out := make(packedTokens, 0, len(b)/packedTokenBytes)
	for ; len(b) > 0; b = b[packedTokenBytes:] {
		at := time.UnixMilli(int64(binary.BigEndian.Uint64(b[sha256.Size:packedTokenBytes]))).UTC()
		out = append(out, store.Token{Hash: append([]byte(nil), b[:sha256.Size]...), At: at})
	}
	*p = out
	return nil
}
