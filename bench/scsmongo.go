package bench

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// SCSMongoStore is a store for scs's Store and CtxStore interfaces that does what scs's mongodbstore
// (github.com/alexedwards/scs/mongodbstore, not served by the module proxy) does: one document
// {token, object, expiration} per session, FindOne by token (expiry checked in Go), UpdateOne with $set and
// upsert, DeleteOne by token. NewSCSMongoStore gives it an index on token, so that scs is measured at its best.
type SCSMongoStore struct {
	coll *mongo.Collection
}

type scsItem struct {
	Token      string    `bson:"token"`
	Object     []byte    `bson:"object"`
	Expiration time.Time `bson:"expiration"`
}

// NewSCSMongoStore creates the index on token and returns the store.
func NewSCSMongoStore(ctx context.Context, coll *mongo.Collection) (*SCSMongoStore, error) {
	_, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "token", Value: 1}},
		Options: options.Index().SetName("token"),
	})
	if err != nil {
		return nil, err
	}
	return &SCSMongoStore{coll: coll}, nil
}

// FindCtx implements scs.CtxStore.
func (s *SCSMongoStore) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	var it scsItem
	err := s.coll.FindOne(ctx, bson.D{{Key: "token", Value: token}}).Decode(&it)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if time.Now().After(it.Expiration) {
		return nil, false, nil
	}
	return it.Object, true, nil
}

// CommitCtx implements scs.CtxStore.
func (s *SCSMongoStore) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	_, err := s.coll.UpdateOne(ctx, bson.D{{Key: "token", Value: token}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "object", Value: b}, {Key: "expiration", Value: expiry}}}},
		options.UpdateOne().SetUpsert(true))
	return err
}

// DeleteCtx implements scs.CtxStore.
func (s *SCSMongoStore) DeleteCtx(ctx context.Context, token string) error {
	_, err := s.coll.DeleteOne(ctx, bson.D{{Key: "token", Value: token}})
	return err
}

// Find implements scs.Store.
func (s *SCSMongoStore) Find(token string) ([]byte, bool, error) {
	return s.FindCtx(context.Background(), token)
}

// Commit implements scs.Store.
func (s *SCSMongoStore) Commit(token string, b []byte, expiry time.Time) error {
	return s.CommitCtx(context.Background(), token, b, expiry)
}

// Delete implements scs.Store.
func (s *SCSMongoStore) Delete(token string) error {
	return s.DeleteCtx(context.Background(), token)
}
