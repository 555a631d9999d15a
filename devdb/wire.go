package devdb

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
)

// MongoDB wire protocol constants (https://www.mongodb.com/docs/manual/reference/mongodb-wire-protocol/).
const (
	headerLen = 16
	// maxMsgLen is generous: MongoDB's maxMessageSizeBytes is 48,000,000.
	maxMsgLen = 64 << 20

	opQuery = 2004
	opMsg   = 2013

	flagChecksumPresent = 1 << 0
	flagMoreToCome      = 1 << 1
)

// unlockedCommands are handshake and monitoring commands that touch no data,
// so they need not wait for (or block) the global lock. FerretDB 1.24.2 answers
// hello at once (it returns no topologyVersion, so drivers never send an
// awaitable hello that could block), so this is about latency, not deadlock:
// heartbeats and new connections must not queue behind slow updates.
var unlockedCommands = map[string]bool{
	"hello":        true,
	"isMaster":     true,
	"ismaster":     true,
	"ping":         true,
	"buildInfo":    true,
	"buildinfo":    true,
	"saslStart":    true,
	"saslContinue": true,
	"endSessions":  true,
}

// msgReader reads whole wire messages.
type msgReader struct{ r *bufio.Reader }

func newMsgReader(r io.Reader) *msgReader { return &msgReader{r: bufio.NewReaderSize(r, 64<<10)} }

// next returns the next complete message, header included.
func (m *msgReader) next() ([]byte, error) {
	var hdr [headerLen]byte
	if _, err := io.ReadFull(m.r, hdr[:]); err != nil {
		return nil, err
	}
	n := int(int32(binary.LittleEndian.Uint32(hdr[0:4])))
	if n < headerLen || n > maxMsgLen {
		return nil, fmt.Errorf("devdb: bad wire message length %d", n)
	}
	msg := make([]byte, n)
	copy(msg, hdr[:])
	if _, err := io.ReadFull(m.r, msg[headerLen:]); err != nil {
		return nil, err
	}
	return msg, nil
}

func opCode(msg []byte) int32     { return int32(binary.LittleEndian.Uint32(msg[12:16])) }
func responseTo(msg []byte) int32 { return int32(binary.LittleEndian.Uint32(msg[8:12])) }

// moreToCome reports whether msg is an OP_MSG with the moreToCome flag:
// a request expecting no reply, or a reply that more replies follow (exhaust).
func moreToCome(msg []byte) bool {
	return opCode(msg) == opMsg && len(msg) >= headerLen+4 &&
		binary.LittleEndian.Uint32(msg[headerLen:])&flagMoreToCome != 0
}

// commandName returns the first key of the command document of an OP_MSG
// (section kind 0) or OP_QUERY, or "" if msg is anything else or malformed.
func commandName(msg []byte) string {
	switch opCode(msg) {
	case opMsg:
		if len(msg) < headerLen+4 {
			return ""
		}
		flags := binary.LittleEndian.Uint32(msg[headerLen:])
		body := msg[headerLen+4:]
		if flags&flagChecksumPresent != 0 {
			if len(body) < 4 {
				return ""
			}
			body = body[:len(body)-4]
		}
		for len(body) > 0 {
			kind := body[0]
			body = body[1:]
			if len(body) < 4 {
				return ""
			}
			size := int(int32(binary.LittleEndian.Uint32(body)))
			if size < 5 || size > len(body) {
				return ""
			}
			if kind == 0 {
				return firstKey(body[:size])
			}
			body = body[size:] // kind 1: document sequence, size includes itself
		}
	case opQuery:
		// flags int32, fullCollectionName cstring, numberToSkip int32, numberToReturn int32, query document
		b := msg[headerLen:]
		if len(b) < 4 {
			return ""
		}
		b = b[4:]
		i := indexNUL(b)
		if i < 0 || len(b) < i+1+8 {
			return ""
		}
		return firstKey(b[i+1+8:])
	}
	return ""
}

// firstKey returns the name of the first element of the BSON document doc.
func firstKey(doc []byte) string {
	if len(doc) < 6 || doc[4] == 0 { // int32 length, element type, key...
		return ""
	}
	key := doc[5:]
	if i := indexNUL(key); i >= 0 {
		return string(key[:i])
	}
	return ""
}

func indexNUL(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}

// pingMsg builds an OP_MSG {ping: 1, $db: "admin"} with the given request ID.
func pingMsg(requestID int32) []byte {
	le := binary.LittleEndian
	var doc []byte
	doc = le.AppendUint32(doc, 0) // length, patched below
	doc = append(doc, 0x10)       // int32
	doc = append(doc, "ping\x00"...)
	doc = le.AppendUint32(doc, 1)
	doc = append(doc, 0x02) // string
	doc = append(doc, "$db\x00"...)
	doc = le.AppendUint32(doc, uint32(len("admin")+1))
	doc = append(doc, "admin\x00"...)
	doc = append(doc, 0)
	le.PutUint32(doc, uint32(len(doc)))

	msg := make([]byte, headerLen, headerLen+4+1+len(doc))
	msg = le.AppendUint32(msg, 0) // flags
	msg = append(msg, 0)          // section kind 0
	msg = append(msg, doc...)
	le.PutUint32(msg[0:], uint32(len(msg)))
	le.PutUint32(msg[4:], uint32(requestID))
	le.PutUint32(msg[8:], 0)
	le.PutUint32(msg[12:], opMsg)
	return msg
}

// relay is one client connection paired with its own backend connection.
type relay struct {
	s           *Server
	client      net.Conn
	backend     net.Conn
	fromClient  *msgReader
	fromBackend *msgReader
	nextPingID  int32 // negative, so it cannot collide with a driver's request IDs
}

// roundTrip forwards one request and its reply (or replies), holding the global
// lock until FerretDB has finished the command.
func (p *relay) roundTrip(req []byte) error {
	locked := false
	if !unlockedCommands[commandName(req)] {
		p.s.cmdMu.Lock()
		locked = true
	}
	unlock := func() {
		if locked {
			p.s.cmdMu.Unlock()
			locked = false
		}
	}
	defer unlock()

	if _, err := p.backend.Write(req); err != nil {
		return err
	}

	if moreToCome(req) {
		// The client expects no reply. FerretDB 1.24.2 replies anyway (it ignores
		// the flag), a real server would not; so send our own ping on the same
		// connection (FerretDB handles a connection's messages in order) and drop
		// everything up to its reply: then the command has certainly finished.
		p.nextPingID--
		id := p.nextPingID
		if _, err := p.backend.Write(pingMsg(id)); err != nil {
			return err
		}
		for {
			reply, err := p.fromBackend.next()
			if err != nil {
				return err
			}
			if responseTo(reply) == id && !moreToCome(reply) {
				return nil
			}
		}
	}

	for {
		reply, err := p.fromBackend.next()
		if err != nil {
			return err
		}
		if !moreToCome(reply) {
			// Last reply: release the lock first so a slow client cannot stall others.
			unlock()
			_, err = p.client.Write(reply)
			return err
		}
		// Exhaust stream: FerretDB 1.24.2 never sends one, but relay it whole under the lock.
		if _, err := p.client.Write(reply); err != nil {
			return err
		}
	}
}

// isClosed reports whether err just means a connection went away.
func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
