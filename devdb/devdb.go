// Package devdb runs an embedded MongoDB-compatible development database:
// FerretDB 1.24.2 (SQLite or PostgreSQL storage) behind a small TCP front that
// serializes whole wire commands.
//
// FerretDB 1.x is not atomic: its update, findAndModify and delete read,
// modify and write documents without isolation, so concurrent $inc lose updates
// and a compare-and-set can have two winners. The front holds one global lock
// from forwarding a request until its reply is back, which gives the
// single-document atomicity a real MongoDB provides (and, as a side effect,
// serializes everything). It is meant for tests and demos, not production.
//
// FerretDB 1.x also lacks TTL indexes (createIndexes with expireAfterSeconds
// fails with code 238 NotImplemented) and the $slice projection/update modifier.
package devdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// Backend names accepted by [Config].Backend.
const (
	BackendSQLite     = "sqlite"
	BackendPostgreSQL = "postgresql"
)

// Config configures [Start].
type Config struct {
	// Dir is the folder for the SQLite files; it is created if missing.
	// Required for the "sqlite" backend. For the "postgresql" backend without
	// PostgreSQLURL, the PostgreSQL cluster is created in Dir/postgres.
	Dir string

	// Addr is the listen address of the front (the address clients use).
	// Default "127.0.0.1:0" (a free port; see [Server.URI]).
	Addr string

	// Backend is "sqlite" (default) or "postgresql".
	Backend string

	// PostgreSQLURL is the PostgreSQL connection string for the "postgresql"
	// backend, e.g. "postgres://user@127.0.0.1:5432/ferretdb". If empty, Start
	// runs its own PostgreSQL in Dir/postgres via [StartPostgres] and stops it on Close.
	PostgreSQLURL string

	// Logger receives FerretDB's and the front's logs. Default: discard them.
	Logger *slog.Logger

	// LogCommandErrors keeps FerretDB's dumps of failed commands, which it logs at WARN (two multi-line
	// records per failure, such as the expected createIndexes with expireAfterSeconds or the driver's
	// endSessions). Default false: the client receives the error anyway, so they are dropped unless
	// FerretDB logs them at ERROR (it then also closes the connection).
	LogCommandErrors bool
}

// Server is a running development database. Create it with [Start].
type Server struct {
	uri    string
	front  net.Listener
	ferret string // FerretDB's own loopback address, reached only through the front
	log    *slog.Logger

	// cmdMu is the global lock: held while one wire command is being executed.
	cmdMu sync.Mutex

	connsMu sync.Mutex
	conns   map[net.Conn]struct{}
	closed  bool

	wg          sync.WaitGroup // front goroutines
	stopFerret  context.CancelFunc
	ferretDone  chan struct{}
	stopPG      func() error // nil unless Start launched PostgreSQL itself
	closeOnce   sync.Once
	closeResult error
}

// Start starts FerretDB on a random loopback port and the serializing front on
// cfg.Addr. The caller must call [Server.Close].
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Backend == "" {
		cfg.Backend = BackendSQLite
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	ferretLog := log
	if !cfg.LogCommandErrors {
		ferretLog = slog.New(withoutCommandErrors{log.Handler()})
	}
	fcfg := &ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Logger:   ferretLog,
		Handler:  cfg.Backend,
	}

	var stopPG func() error
	switch cfg.Backend {
	case BackendSQLite:
		if cfg.Dir == "" {
			return nil, errors.New("devdb: Config.Dir is required for the sqlite backend")
		}
		dir, err := filepath.Abs(cfg.Dir)
		if err != nil {
			return nil, fmt.Errorf("devdb: %w", err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("devdb: %w", err)
		}
		// FerretDB wants a "file:" URI of an existing directory ending with "/".
		fcfg.SQLiteURL = (&url.URL{Scheme: "file", Path: dir + "/"}).String()
	case BackendPostgreSQL:
		fcfg.PostgreSQLURL = cfg.PostgreSQLURL
		if fcfg.PostgreSQLURL == "" {
			if cfg.Dir == "" {
				return nil, errors.New("devdb: Config.Dir or Config.PostgreSQLURL is required for the postgresql backend")
			}
			pgURL, stop, err := StartPostgres(ctx, filepath.Join(cfg.Dir, "postgres"))
			if err != nil {
				return nil, err
			}
			fcfg.PostgreSQLURL, stopPG = pgURL, stop
		}
	default:
		return nil, fmt.Errorf("devdb: unknown backend %q (want %q or %q)", cfg.Backend, BackendSQLite, BackendPostgreSQL)
	}

	cleanupPG := func() {
		if stopPG != nil {
			_ = stopPG()
		}
	}

	f, err := ferretdb.New(fcfg)
	if err != nil {
		cleanupPG()
		return nil, fmt.Errorf("devdb: starting FerretDB: %w", err)
	}
	// ferretdb.New already listens, so the address is known before Run.
	ferretURI, err := url.Parse(f.MongoDBURI())
	if err != nil {
		cleanupPG()
		return nil, fmt.Errorf("devdb: FerretDB URI: %w", err)
	}

	front, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		// Run has to be called for FerretDB to release its listener and backend.
		fctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = f.Run(fctx)
		cleanupPG()
		return nil, fmt.Errorf("devdb: front: %w", err)
	}

	// Run FerretDB detached from ctx: ctx only bounds the start-up, Close stops it.
	fctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		uri:        (&url.URL{Scheme: "mongodb", Host: front.Addr().String(), Path: "/"}).String(),
		front:      front,
		ferret:     ferretURI.Host,
		log:        log,
		conns:      make(map[net.Conn]struct{}),
		stopFerret: cancel,
		ferretDone: make(chan struct{}),
		stopPG:     stopPG,
	}
	go func() {
		defer close(s.ferretDone)
		if err := f.Run(fctx); err != nil {
			log.Error("devdb: FerretDB stopped", "error", err)
		}
	}()

	s.wg.Add(1)
	go s.acceptLoop()

	log.Info("devdb: listening", "uri", s.uri, "ferretdb", s.ferret, "backend", cfg.Backend)
	return s, nil
}

// URI returns the MongoDB connection string of the front, e.g.
// "mongodb://127.0.0.1:40123/". It works with default driver options
// (FerretDB reports itself as a standalone server, so no directConnection is needed).
func (s *Server) URI() string { return s.uri }

// Close stops the front, closes all client connections, stops FerretDB (and
// PostgreSQL if Start launched it) and waits for all goroutines. It is safe
// to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.connsMu.Lock()
		s.closed = true
		err := s.front.Close()
		for c := range s.conns {
			_ = c.Close()
		}
		s.connsMu.Unlock()
		s.wg.Wait()

		s.stopFerret()
		<-s.ferretDone

		if s.stopPG != nil {
			err = errors.Join(err, s.stopPG())
		}
		s.closeResult = err
	})
	return s.closeResult
}

// track registers c to be closed by Close; it reports false if Close has begun.
func (s *Server) track(c net.Conn) bool {
	s.connsMu.Lock()
	defer s.connsMu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.connsMu.Lock()
	delete(s.conns, c)
	s.connsMu.Unlock()
	_ = c.Close()
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.front.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.log.Error("devdb: accept", "error", err)
			}
			return
		}
		if !s.track(c) {
			_ = c.Close()
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.untrack(c)
			s.serveConn(c)
		}()
	}
}

// serveConn relays one client connection over its own backend connection.
func (s *Server) serveConn(client net.Conn) {
	backend, err := net.Dial("tcp", s.ferret)
	if err != nil {
		s.log.Error("devdb: dial FerretDB", "error", err)
		return
	}
	if !s.track(backend) {
		_ = backend.Close()
		return
	}
	defer s.untrack(backend)

	p := &relay{s: s, client: client, backend: backend, fromClient: newMsgReader(client), fromBackend: newMsgReader(backend)}
	for {
		req, err := p.fromClient.next()
		if err != nil {
			if !isClosed(err) {
				s.log.Debug("devdb: reading request", "error", err)
			}
			return
		}
		if err := p.roundTrip(req); err != nil {
			if !isClosed(err) {
				s.log.Debug("devdb: relaying", "error", err)
			}
			return
		}
	}
}

// withoutCommandErrors drops FerretDB's dumps of failed commands below ERROR. FerretDB logs every reply
// with ok: 0 at WARN as a "Response header" and a "Response message" record; the client receives that
// error itself, so for whoever reads the server's log they are noise (a driver's endSessions, which
// FerretDB 1.x does not know, is one per connection). At ERROR, FerretDB closes the connection: kept.
type withoutCommandErrors struct{ slog.Handler }

func (h withoutCommandErrors) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelError && isResponseDump(r.Message) {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h withoutCommandErrors) WithAttrs(attrs []slog.Attr) slog.Handler {
	return withoutCommandErrors{h.Handler.WithAttrs(attrs)}
}

func (h withoutCommandErrors) WithGroup(name string) slog.Handler {
	return withoutCommandErrors{h.Handler.WithGroup(name)}
}

// isResponseDump reports whether msg is one of FerretDB's reply dumps (internal/clientconn, logResponse).
func isResponseDump(msg string) bool {
	return strings.HasPrefix(msg, "Response header: ") || strings.HasPrefix(msg, "Response message:")
}
