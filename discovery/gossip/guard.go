package gossip

import (
	"bufio"
	"bytes"
	"compress/lzw"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// The stream guard. memberlist v0.7.0 allocates what a push/pull header announces
// (2^20 node states of about 110 bytes each, 20 MiB of user state) before it reads any
// of it, and holds it until the connection ends (TCPTimeout), on up to 128 connections
// at once. guardTransport wraps memberlist's NetTransport: it reads the start of every
// TCP stream (inbound before memberlist sees it, dialed on memberlist's first read),
// refuses one whose header announces more than this cluster can send, replays what it
// read to memberlist otherwise, caps the bytes memberlist may read from one stream, and
// bounds the inbound streams handled at once. An encrypted stream cannot be read before
// memberlist decrypts it: the key protects it (only its declared length is checked).

// memberlist's stream message types (net.go) the guard reads.
const (
	msgPushPull = 6
	msgUser     = 8
	msgCompress = 9
	msgEncrypt  = 10
	msgLabel    = 244
)

const (
	// maxUserStateBytes bounds the user state of a push/pull and a user message: this
	// provider's members send neither.
	maxUserStateBytes = 1 << 20
	// nodeStateBytes is a generous size of one encoded node state (name, address, at
	// most 512 bytes of meta, versions, field names).
	nodeStateBytes = 1 << 10
	// maxFieldBytes bounds a string or binary value of a field the guard does not know.
	maxFieldBytes = 1 << 10
	// maxFields bounds the fields of a header.
	maxFields = 32
)

// streamLimits is what the guard lets one stream announce and carry.
type streamLimits struct {
	nodes     int // node states a push/pull may announce
	userBytes int // user state of a push/pull, length of a user message
	bytes     int // bytes memberlist may read from one stream (and a compressed message's inflated size)
}

func newStreamLimits(maxMembers int) streamLimits {
	return streamLimits{
		nodes:     maxMembers,
		userBytes: maxUserStateBytes,
		bytes:     maxMembers*nodeStateBytes + maxUserStateBytes + 64<<10,
	}
}

// errRefused wraps why the guard refused a stream.
var errRefused = errors.New("gossip stream refused")

func refuse(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errRefused}, args...)...)
}

// check reads the start of a stream from r, as memberlist's handleConn and readStream
// do (an optional label header; a message type; a compress envelope, whose inflated
// message is read in turn; an encrypted message's length), and returns an error if
// memberlist would allocate beyond l to decode it. It allocates at most what it reads,
// plus l.bytes of inflated data it discards. A stream it cannot tell (a ping, an empty
// stream) is memberlist's to handle.
func (l streamLimits) check(r io.Reader) error {
	t, err := readByte(r)
	if err == io.EOF {
		return nil // an empty stream: memberlist reads EOF and drops it
	} else if err != nil {
		return err
	}
	if t == msgLabel {
		n, err := readByte(r)
		if err != nil {
			return err
		}
		if n == 0 {
			return refuse("empty label")
		}
		if _, err := io.CopyN(io.Discard, r, int64(n)); err != nil {
			return err
		}
		if t, err = readByte(r); err != nil {
			return err
		}
	}
	switch t {
	case msgEncrypt:
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return err
		}
		if n := binary.BigEndian.Uint32(b[:]); int64(n) > int64(l.bytes) {
			return refuse("encrypted message of %d bytes, limit %d", n, l.bytes)
		}
		return nil
	case msgCompress:
		return l.checkCompressed(r)
	default:
		return l.checkMessage(t, r)
	}
}

// checkMessage checks the header of a message of type t that r holds after its type.
func (l streamLimits) checkMessage(t byte, r io.Reader) error {
	switch t {
	case msgPushPull:
		return readFields(r, func(key string, v int64) error {
			switch {
			case key == "Nodes" && (v < 0 || v > int64(l.nodes)):
				return refuse("push/pull announcing %d node states, limit %d", v, l.nodes)
			case key == "UserStateLen" && (v < 0 || v > int64(l.userBytes)):
				return refuse("push/pull announcing %d bytes of user state, limit %d", v, l.userBytes)
			}
			return nil
		}, "Nodes", "UserStateLen")
	case msgUser:
		return readFields(r, func(_ string, v int64) error {
			if v < 0 || v > int64(l.userBytes) {
				return refuse("user message of %d bytes, limit %d", v, l.userBytes)
			}
			return nil
		}, "UserMsgLen")
	case msgCompress, msgEncrypt, msgLabel:
		return refuse("message type %d inside a compressed message", t) // memberlist drops it too
	}
	return nil
}

// checkCompressed reads memberlist's compress envelope (a map of Algo, LZW only, and
// Buf) from r and checks the message it inflates to; that may be at most l.bytes.
func (l streamLimits) checkCompressed(r io.Reader) error {
	n, err := readMapLen(r)
	if err != nil {
		return err
	}
	for range n {
		key, err := readFieldName(r)
		if err != nil {
			return err
		}
		switch key {
		case "Algo":
			v, err := readInt(r)
			if err != nil {
				return err
			}
			if v != 0 {
				return refuse("compression algorithm %d", v)
			}
		case "Buf":
			size, err := readBinLen(r)
			if err != nil {
				return err
			}
			if size > l.bytes {
				return refuse("compressed message of %d bytes, limit %d", size, l.bytes)
			}
			if err := l.checkInflated(io.LimitReader(r, int64(size))); err != nil {
				return err
			}
		default:
			if err := skipScalar(r); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkInflated inflates the LZW data z holds (all of it, so that z is consumed) and
// checks the message it holds.
func (l streamLimits) checkInflated(z io.Reader) error {
	zr := lzw.NewReader(z, lzw.LSB, 8)
	defer zr.Close()
	in := &countingReader{r: io.LimitReader(zr, int64(l.bytes)+1)}
	br := bufio.NewReader(in)
	t, err := readByte(br)
	if err == io.EOF {
		return refuse("compressed message is empty")
	} else if err != nil {
		return refuse("compressed message: %v", err)
	}
	if err := l.checkMessage(t, br); err != nil {
		if errors.Is(err, errRefused) {
			return err
		}
		return refuse("compressed message: %v", err)
	}
	if _, err := io.Copy(io.Discard, br); err != nil {
		return refuse("compressed message: %v", err)
	}
	if in.n > int64(l.bytes) {
		return refuse("compressed message inflates beyond %d bytes", l.bytes)
	}
	if _, err := io.Copy(io.Discard, z); err != nil { // bytes past the LZW end, as memberlist's Buf holds them
		return err
	}
	return nil
}

// readFields reads a msgpack map encoding a struct, as memberlist's codec writes one
// (field names as keys), and calls check with the value of each field named in ints,
// an integer (nil is 0, as codec decodes it). A field may repeat (codec keeps the last
// value; check sees each). Other fields must hold scalars. Anything codec could decode
// into a larger value than check saw is refused: arrays, keys that are not strings.
func readFields(r io.Reader, check func(key string, v int64) error, ints ...string) error {
	n, err := readMapLen(r)
	if err != nil {
		return err
	}
	for range n {
		key, err := readFieldName(r)
		if err != nil {
			return err
		}
		known := false
		for _, k := range ints {
			known = known || k == key
		}
		if !known {
			if err := skipScalar(r); err != nil {
				return err
			}
			continue
		}
		v, err := readInt(r)
		if err != nil {
			return err
		}
		if err := check(key, v); err != nil {
			return err
		}
	}
	return nil
}

func readByte(r io.Reader) (byte, error) {
	var b [1]byte
	_, err := io.ReadFull(r, b[:])
	return b[0], err
}

// readN reads a big-endian unsigned integer of n bytes.
func readN(r io.Reader, n int) (uint64, error) {
	var b [8]byte
	if _, err := io.ReadFull(r, b[8-n:]); err != nil {
		return 0, unexpected(err)
	}
	return binary.BigEndian.Uint64(b[:]), nil
}

// unexpected turns a clean EOF inside a message into io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func readMapLen(r io.Reader) (int, error) {
	b, err := readByte(r)
	if err != nil {
		return 0, unexpected(err)
	}
	var n uint64
	switch {
	case b >= 0x80 && b <= 0x8f:
		n = uint64(b & 0x0f)
	case b == 0xde:
		n, err = readN(r, 2)
	case b == 0xdf:
		n, err = readN(r, 4)
	default:
		return 0, refuse("want a map, got msgpack type 0x%02x", b)
	}
	if err != nil {
		return 0, err
	}
	if n > maxFields {
		return 0, refuse("map of %d fields, limit %d", n, maxFields)
	}
	return int(n), nil
}

// readInt reads a msgpack integer, or nil as 0, as codec's DecodeInt64 reads one into
// an int field (a uint64 is reinterpreted).
func readInt(r io.Reader) (int64, error) {
	b, err := readByte(r)
	if err != nil {
		return 0, unexpected(err)
	}
	var v uint64
	switch {
	case b <= 0x7f || b >= 0xe0:
		return int64(int8(b)), nil
	case b == 0xc0:
		return 0, nil
	case b == 0xcc, b == 0xcd, b == 0xce, b == 0xcf:
		v, err = readN(r, 1<<(b-0xcc))
		return int64(v), err
	case b == 0xd0:
		v, err = readN(r, 1)
		return int64(int8(v)), err
	case b == 0xd1:
		v, err = readN(r, 2)
		return int64(int16(v)), err
	case b == 0xd2:
		v, err = readN(r, 4)
		return int64(int32(v)), err
	case b == 0xd3:
		v, err = readN(r, 8)
		return int64(v), err
	}
	return 0, refuse("want an integer, got msgpack type 0x%02x", b)
}

// readBinLen reads the header of a msgpack str or bin (codec decodes either into a
// []byte) and returns its length; nil is 0.
func readBinLen(r io.Reader) (int, error) {
	b, err := readByte(r)
	if err != nil {
		return 0, unexpected(err)
	}
	var n uint64
	switch {
	case b >= 0xa0 && b <= 0xbf:
		n = uint64(b & 0x1f)
	case b == 0xc0:
		return 0, nil
	case b == 0xc4 || b == 0xd9:
		n, err = readN(r, 1)
	case b == 0xc5 || b == 0xda:
		n, err = readN(r, 2)
	case b == 0xc6 || b == 0xdb:
		n, err = readN(r, 4)
	default:
		return 0, refuse("want bytes, got msgpack type 0x%02x", b)
	}
	return int(n), err
}

// readFieldName reads a field name: a str or bin of at most maxFieldBytes.
func readFieldName(r io.Reader) (string, error) {
	b, err := readByte(r)
	if err != nil {
		return "", unexpected(err)
	}
	if b == 0xc0 {
		return "", refuse("nil field name")
	}
	n, err := readBinLen(io.MultiReader(bytes.NewReader([]byte{b}), r))
	if err != nil {
		return "", err
	}
	if n > maxFieldBytes {
		return "", refuse("field name of %d bytes", n)
	}
	var s strings.Builder
	if _, err := io.CopyN(&s, r, int64(n)); err != nil {
		return "", unexpected(err)
	}
	return s.String(), nil
}

// skipScalar reads a msgpack nil, bool, number, or str or bin of at most maxFieldBytes.
func skipScalar(r io.Reader) error {
	b, err := readByte(r)
	if err != nil {
		return unexpected(err)
	}
	skip := 0
	switch {
	case b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3:
	case b >= 0xcc && b <= 0xcf:
		skip = 1 << (b - 0xcc)
	case b >= 0xd0 && b <= 0xd3:
		skip = 1 << (b - 0xd0)
	case b == 0xca:
		skip = 4
	case b == 0xcb:
		skip = 8
	default:
		n, err := readBinLen(io.MultiReader(bytes.NewReader([]byte{b}), r))
		if err != nil {
			return err
		}
		if n > maxFieldBytes {
			return refuse("field value of %d bytes", n)
		}
		skip = n
	}
	if _, err := io.CopyN(io.Discard, r, int64(skip)); err != nil {
		return unexpected(err)
	}
	return nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// recordingReader keeps what is read through it, at most max bytes.
type recordingReader struct {
	r   io.Reader
	buf []byte
	max int
}

func (rc *recordingReader) Read(p []byte) (int, error) {
	room := rc.max - len(rc.buf)
	if room <= 0 {
		return 0, refuse("stream longer than %d bytes", rc.max)
	}
	if len(p) > room {
		p = p[:room]
	}
	n, err := rc.r.Read(p)
	rc.buf = append(rc.buf, p[:n]...)
	return n, err
}

// budgetReader reads at most n more bytes from r, then fails.
type budgetReader struct {
	r   io.Reader
	n   int
	max int
}

func (b *budgetReader) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, refuse("stream longer than %d bytes", b.max)
	}
	if len(p) > b.n {
		p = p[:b.n]
	}
	n, err := b.r.Read(p)
	b.n -= n
	return n, err
}

// guard checks the start of the stream conn carries and returns the stream as
// memberlist may read it: what the check read, then at most l.bytes in all.
func (l streamLimits) guard(conn io.Reader) (io.Reader, error) {
	br := bufio.NewReader(conn)
	rec := &recordingReader{r: br, max: l.bytes}
	if err := l.check(rec); err != nil {
		return nil, err
	}
	rest, _ := br.Peek(br.Buffered())
	read := append(rec.buf, rest...)
	if len(read) > l.bytes {
		read = read[:l.bytes]
	}
	return io.MultiReader(bytes.NewReader(read), &budgetReader{r: conn, n: l.bytes - len(read), max: l.bytes}), nil
}

// guardedConn is a stream whose reads go through the guard: checked on the first Read
// (or by the transport before memberlist gets it).
type guardedConn struct {
	net.Conn
	lim     streamLimits
	once    sync.Once
	r       io.Reader
	err     error
	release func() // frees the inbound stream's slot; nil for a dialed one
	closed  sync.Once
}

func (c *guardedConn) inspect() error {
	c.once.Do(func() { c.r, c.err = c.lim.guard(c.Conn) })
	return c.err
}

func (c *guardedConn) Read(p []byte) (int, error) {
	if err := c.inspect(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func (c *guardedConn) Close() error {
	err := c.Conn.Close()
	c.closed.Do(func() {
		if c.release != nil {
			c.release()
		}
	})
	return err
}

// guardTransport is memberlist's NetTransport with the stream guard; see above.
type guardTransport struct {
	*memberlist.NetTransport
	lim     streamLimits
	timeout time.Duration // for reading an inbound stream's header
	log     *slog.Logger
	slots   chan struct{} // one per inbound stream being checked or handled
	out     chan net.Conn
	done    chan struct{}
	loop    sync.WaitGroup
	stop    sync.Once
}

var _ memberlist.NodeAwareTransport = (*guardTransport)(nil)

func newGuardTransport(nt *memberlist.NetTransport, lim streamLimits, maxStreams int, timeout time.Duration, log *slog.Logger) *guardTransport {
	g := &guardTransport{
		NetTransport: nt, lim: lim, timeout: timeout, log: log,
		slots: make(chan struct{}, maxStreams),
		out:   make(chan net.Conn),
		done:  make(chan struct{}),
	}
	g.loop.Add(1)
	go g.accept()
	return g
}

// StreamCh returns the inbound streams that passed the guard.
func (g *guardTransport) StreamCh() <-chan net.Conn { return g.out }

// accept takes the NetTransport's inbound streams, refuses those beyond the slots and
// checks the others, each on a goroutine of its own.
func (g *guardTransport) accept() {
	defer g.loop.Done()
	in := g.NetTransport.StreamCh()
	for {
		select {
		case conn := <-in:
			select {
			case g.slots <- struct{}{}:
				go g.admit(conn)
			default:
				g.log.Warn("gossip stream refused: too many at once", "remote", conn.RemoteAddr().String(), "max", cap(g.slots))
				conn.Close()
			}
		case <-g.done:
			return
		}
	}
}

func (g *guardTransport) admit(conn net.Conn) {
	c := &guardedConn{Conn: conn, lim: g.lim, release: func() { <-g.slots }}
	conn.SetReadDeadline(time.Now().Add(g.timeout)) // memberlist sets its own deadline next
	if err := c.inspect(); err != nil {
		g.log.Warn("gossip stream refused", "remote", conn.RemoteAddr().String(), "err", err)
		c.Close()
		return
	}
	select {
	case g.out <- c:
	case <-g.done:
		c.Close()
	}
}

func (g *guardTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return g.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

func (g *guardTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	conn, err := g.NetTransport.DialAddressTimeout(a, timeout)
	if err != nil {
		return nil, err
	}
	return &guardedConn{Conn: conn, lim: g.lim}, nil
}

// Shutdown closes the NetTransport (accept drains its streams meanwhile, as its
// listeners wait to hand them over), then stops accept.
func (g *guardTransport) Shutdown() error {
	var err error
	g.stop.Do(func() {
		err = g.NetTransport.Shutdown()
		close(g.done)
		g.loop.Wait()
	})
	return err
}
