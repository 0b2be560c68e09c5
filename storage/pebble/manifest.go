package pebblestore

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"strconv"
	"strings"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/legion-go/legion/storage"
)

// The manifest is a small text file naming the data directory's format
// version and owner:
//
//	legion-storage-manifest
//	format 1
//	node "n1"
//	incarnation 0123456789abcdef
//	crc32c 1a2b3c4d
//
// The first two lines keep this shape in every format, so any build can tell
// "newer format" (ErrVersion) from "damaged" (ErrCorrupt). The last line is
// the CRC-32C (Castagnoli) of every byte before it.
const (
	manifestName    = "legion.manifest"
	manifestTmpName = "legion.manifest.tmp"
	manifestMagic   = "legion-storage-manifest"
	formatVersion   = 1
	maxManifestSize = 64 << 10
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// errNoManifest: the data directory holds no manifest.
var errNoManifest = errors.New("no manifest")

type manifest struct {
	format int
	id     storage.Identity
}

func (m manifest) encode() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\nformat %d\nnode %s\nincarnation %s\n",
		manifestMagic, m.format, strconv.Quote(m.id.Node), m.id.Incarnation)
	fmt.Fprintf(&b, "crc32c %08x\n", crc32.Checksum(b.Bytes(), crcTable))
	return b.Bytes()
}

// decodeManifest parses a manifest, returning errors wrapping ErrVersion or
// ErrCorrupt.
func decodeManifest(data []byte) (manifest, error) {
	corrupt := func(why string) (manifest, error) {
		return manifest{}, fmt.Errorf("%w: manifest: %s", storage.ErrCorrupt, why)
	}
	if len(data) == 0 || data[len(data)-1] != '\n' {
		return corrupt("truncated")
	}
	lines := strings.Split(string(data[:len(data)-1]), "\n")
	if lines[0] != manifestMagic {
		return corrupt("not a legion storage manifest")
	}
	if len(lines) < 2 {
		return corrupt("truncated")
	}
	v, ok := strings.CutPrefix(lines[1], "format ")
	format, err := strconv.Atoi(v)
	if !ok || err != nil {
		return corrupt("bad format line")
	}
	if format != formatVersion {
		return manifest{}, fmt.Errorf("%w: manifest format %d, this build knows %d", storage.ErrVersion, format, formatVersion)
	}
	if len(lines) != 5 {
		return corrupt(fmt.Sprintf("%d lines, want 5", len(lines)))
	}
	sum, ok := strings.CutPrefix(lines[4], "crc32c ")
	body := data[:len(data)-len(lines[4])-1]
	if !ok || sum != fmt.Sprintf("%08x", crc32.Checksum(body, crcTable)) {
		return corrupt("checksum mismatch")
	}
	q, ok := strings.CutPrefix(lines[2], "node ")
	node, err := strconv.Unquote(q)
	if !ok || err != nil || node == "" {
		return corrupt("bad node line")
	}
	inc, ok := strings.CutPrefix(lines[3], "incarnation ")
	if !ok || !storage.ValidIncarnation(inc) {
		return corrupt("bad incarnation line")
	}
	return manifest{format: format, id: storage.Identity{Node: node, Incarnation: inc}}, nil
}

// readManifest reads dir's manifest; errNoManifest when there is none.
func readManifest(fsys vfs.FS, dir string) (manifest, error) {
	f, err := fsys.Open(fsys.PathJoin(dir, manifestName))
	if errors.Is(err, fs.ErrNotExist) {
		return manifest{}, errNoManifest
	}
	if err != nil {
		return manifest{}, fmt.Errorf("storage: read manifest: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxManifestSize+1))
	if err != nil {
		return manifest{}, fmt.Errorf("storage: read manifest: %w", err)
	}
	if len(data) > maxManifestSize {
		return manifest{}, fmt.Errorf("%w: manifest larger than %d bytes", storage.ErrCorrupt, maxManifestSize)
	}
	return decodeManifest(data)
}

// writeManifest replaces dir's manifest atomically: write a temporary file,
// fsync it, rename it over the manifest, fsync the directory.
func writeManifest(fsys vfs.FS, dir string, m manifest) error {
	tmp, final := fsys.PathJoin(dir, manifestTmpName), fsys.PathJoin(dir, manifestName)
	f, err := fsys.Create(tmp, vfs.WriteCategoryUnspecified)
	if err != nil {
		return fmt.Errorf("storage: write manifest: %w", err)
	}
	_, err = f.Write(m.encode())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fsys.Rename(tmp, final)
	}
	if err == nil {
		err = syncDir(fsys, dir)
	}
	if err != nil {
		return fmt.Errorf("storage: write manifest: %w", err)
	}
	return nil
}
