package pebblestore_test

import (
	"bytes"
	"errors"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/legion-go/legion/storage"
	pebblestore "github.com/legion-go/legion/storage/pebble"
)

// created returns a data directory holding a store of node n1 with one
// committed partition, closed.
func created(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	s := open(t, dir, "n1")
	var b storage.Batch
	b.PutSnapshot(storage.Partition{Kind: "k", Key: "a"}, []byte("x"))
	if err := s.Commit(&b); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func openErr(t *testing.T, dir, node string, create bool) error {
	t.Helper()
	s, err := pebblestore.Open(dir, storage.Options{Node: node, Create: create, Logger: testLogger(t)})
	if err == nil {
		s.Close()
	}
	return err
}

func TestOpenCreates(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b", "data")
	s := open(t, dir, "n1")
	id := s.Identity()
	if id.Node != "n1" || !storage.ValidIncarnation(id.Incarnation) {
		t.Fatalf("Identity() = %+v", id)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopening, with or without Create, keeps the incarnation.
	for _, create := range []bool{false, true} {
		s, err := pebblestore.Open(dir, storage.Options{Node: "n1", Create: create})
		if err != nil {
			t.Fatal(err)
		}
		if s.Identity() != id {
			t.Fatalf("reopened identity %+v, want %+v", s.Identity(), id)
		}
		s.Close()
	}
	// Another directory gets another incarnation.
	s2 := open(t, t.TempDir(), "n1")
	defer s2.Close()
	if s2.Identity().Incarnation == id.Incarnation {
		t.Fatalf("two directories share incarnation %q", id.Incarnation)
	}
}

func TestOpenEmptyDirectory(t *testing.T) {
	dir := t.TempDir() // exists, empty: e.g. a fresh volume mount
	if err := openErr(t, dir, "n1", false); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Open(empty dir, Create=false) = %v, want ErrNotFound", err)
	}
	if err := openErr(t, dir, "n1", true); err != nil {
		t.Fatalf("Open(empty dir, Create=true) = %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	for _, c := range []struct {
		name    string
		damage  func(t *testing.T, dir string) // nil: leave the directory as created
		node    string
		create  bool
		want    error
		message []string // substrings the error message must hold
		// recovers: pebble replays its WAL (rewriting files, keeping data)
		// before the outcome is known.
		recovers bool
	}{
		{name: "missing directory", node: "n1", want: storage.ErrNotFound,
			damage: func(t *testing.T, dir string) { rm(t, dir) }},
		{name: "invalid options", node: "", want: storage.ErrInvalidOptions},
		{name: "node with separator", node: "n~1", want: storage.ErrInvalidOptions},
		{name: "another node", node: "n2", create: true, want: storage.ErrWrongNode,
			message: []string{`"n1"`, `"n2"`}},
		{name: "newer format", node: "n1", want: storage.ErrVersion,
			damage: func(t *testing.T, dir string) {
				write(t, filepath.Join(dir, pebblestore.ManifestName), "legion-storage-manifest\nformat 2\nwhatever\n")
			}},
		{name: "truncated manifest", node: "n1", create: true, want: storage.ErrCorrupt,
			damage: func(t *testing.T, dir string) { truncate(t, filepath.Join(dir, pebblestore.ManifestName), 40) }},
		{name: "empty manifest", node: "n1", create: true, want: storage.ErrCorrupt,
			damage: func(t *testing.T, dir string) { truncate(t, filepath.Join(dir, pebblestore.ManifestName), 0) }},
		{name: "garbage manifest", node: "n1", create: true, want: storage.ErrCorrupt,
			damage: func(t *testing.T, dir string) {
				write(t, filepath.Join(dir, pebblestore.ManifestName), "\x00\x01garbage\xff\n")
			}},
		{name: "flipped byte in manifest", node: "n1", create: true, want: storage.ErrCorrupt,
			message: []string{"checksum"},
			damage: func(t *testing.T, dir string) {
				p := filepath.Join(dir, pebblestore.ManifestName)
				b := read(t, p)
				i := bytes.Index(b, []byte("incarnation ")) + len("incarnation ")
				b[i] ^= 0x01
				write(t, p, string(b))
			}},
		{name: "manifest missing", node: "n1", create: true, want: storage.ErrCorrupt,
			damage: func(t *testing.T, dir string) { rm(t, filepath.Join(dir, pebblestore.ManifestName)) }},
		{name: "foreign files, no manifest", node: "n1", create: true, want: storage.ErrCorrupt,
			damage: func(t *testing.T, dir string) {
				rm(t, dir)
				mkdir(t, dir)
				write(t, filepath.Join(dir, "precious.txt"), "not ours")
			}},
		{name: "pebble directory missing", node: "n1", create: true, want: storage.ErrCorrupt,
			damage: func(t *testing.T, dir string) { rm(t, filepath.Join(dir, pebblestore.PebbleDirName)) }},
		{name: "garbage pebble MANIFEST", node: "n1", create: true, want: storage.ErrCorrupt,
			damage: func(t *testing.T, dir string) {
				for _, p := range glob(t, filepath.Join(dir, pebblestore.PebbleDirName, "MANIFEST-*")) {
					write(t, p, "garbage garbage garbage")
				}
			}},
		{name: "truncated pebble MANIFEST", node: "n1", create: true, want: storage.ErrCorrupt,
			damage: func(t *testing.T, dir string) {
				for _, p := range glob(t, filepath.Join(dir, pebblestore.PebbleDirName, "MANIFEST-*")) {
					truncate(t, p, 10)
				}
			}},
		{name: "pebble manifest marker missing", node: "n1", create: true, want: storage.ErrCorrupt,
			damage: func(t *testing.T, dir string) {
				for _, p := range glob(t, filepath.Join(dir, pebblestore.PebbleDirName, "marker.manifest.*")) {
					rm(t, p)
				}
			}},
		{name: "garbage pebble CURRENT", node: "n1", create: true, recovers: true, // ignored: pebble v2 reads markers
			damage: func(t *testing.T, dir string) {
				write(t, filepath.Join(dir, pebblestore.PebbleDirName, "CURRENT"), "garbage\n")
			}},
		{name: "garbage pebble CURRENT without markers", node: "n1", create: true, want: storage.ErrVersion,
			damage: func(t *testing.T, dir string) {
				for _, p := range glob(t, filepath.Join(dir, pebblestore.PebbleDirName, "marker.*")) {
					rm(t, p)
				}
				write(t, filepath.Join(dir, pebblestore.PebbleDirName, "CURRENT"), "garbage\n")
			}},
		{name: "newer pebble format", node: "n1", create: true, want: storage.ErrVersion,
			damage: func(t *testing.T, dir string) {
				for _, p := range glob(t, filepath.Join(dir, pebblestore.PebbleDirName, "marker.format-version.*")) {
					if err := os.Rename(p, filepath.Join(filepath.Dir(p), "marker.format-version.000099.999")); err != nil {
						t.Fatal(err)
					}
				}
			}},
		{name: "garbage pebble OPTIONS", node: "n1", create: true, want: storage.ErrCorrupt,
			damage: func(t *testing.T, dir string) {
				for _, p := range glob(t, filepath.Join(dir, pebblestore.PebbleDirName, "OPTIONS-*")) {
					write(t, p, "garbage garbage garbage")
				}
			}},
		{name: "pebble data of another store", node: "n1", create: true, want: storage.ErrCorrupt,
			message: []string{"belongs to"}, recovers: true,
			damage: func(t *testing.T, dir string) {
				other := created(t)
				rm(t, filepath.Join(dir, pebblestore.PebbleDirName))
				if err := os.Rename(filepath.Join(other, pebblestore.PebbleDirName), filepath.Join(dir, pebblestore.PebbleDirName)); err != nil {
					t.Fatal(err)
				}
			}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := created(t)
			if c.damage != nil {
				c.damage(t, dir)
			}
			before := listing(t, dir)
			err := openErr(t, dir, c.node, c.create)
			if !errors.Is(err, c.want) {
				t.Fatalf("Open = %v, want %v", err, c.want)
			}
			for _, m := range c.message {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %s", err, m)
				}
			}
			t.Logf("Open: %v", err)
			// Never a silent reset: a failed Open leaves the files as they were.
			if after := listing(t, dir); !c.recovers && !slices.Equal(before, after) {
				t.Errorf("failed Open changed the directory:\nbefore %q\nafter  %q", before, after)
			}
		})
	}
}

func TestOpenLocked(t *testing.T) {
	dir := created(t)
	s := open(t, dir, "n1")
	if err := openErr(t, dir, "n1", false); !errors.Is(err, storage.ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
	// A relative path to the same directory is the same directory.
	wd, _ := os.Getwd()
	if rel, err := filepath.Rel(wd, dir); err == nil {
		if err := openErr(t, rel, "n1", false); !errors.Is(err, storage.ErrLocked) {
			t.Fatalf("Open(relative path) = %v, want ErrLocked", err)
		}
	}
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(dir, link); err == nil {
		if err := openErr(t, link, "n1", false); !errors.Is(err, storage.ErrLocked) {
			t.Fatalf("Open(symlink) = %v, want ErrLocked", err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := openErr(t, dir, "n1", false); err != nil {
		t.Fatalf("Open after Close = %v", err)
	}
}

// TestLogging: pebble's logs go to the configured slog.Logger, none to the
// standard logger (pebble's default) or stdout.
func TestLogging(t *testing.T) {
	var std bytes.Buffer
	log.SetOutput(&std)
	defer log.SetOutput(os.Stderr)
	rec := &recorder{}
	dir := created(t) // a WAL to replay: pebble logs about it
	s, err := pebblestore.Open(dir, storage.Options{Node: "n1", Logger: slog.New(rec)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	msgs := rec.messages()
	for _, want := range []string{"pebble", "storage opened", "storage closed"} {
		if !slices.Contains(msgs, want) {
			t.Errorf("no %q record among %q", want, msgs)
		}
	}
	if std.Len() > 0 {
		t.Errorf("the standard logger received %q", std.String())
	}
}

func rm(t *testing.T, p string) {
	t.Helper()
	if err := os.RemoveAll(p); err != nil {
		t.Fatal(err)
	}
}

func mkdir(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, p, data string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func truncate(t *testing.T, p string, n int64) {
	t.Helper()
	if err := os.Truncate(p, n); err != nil {
		t.Fatal(err)
	}
}

func glob(t *testing.T, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(pattern)
	if err != nil || len(m) == 0 {
		t.Fatalf("glob %q: %q, %v", pattern, m, err)
	}
	return m
}

// listing returns every path under dir with its size, the LOCK files aside.
func listing(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.Name() == pebblestore.LockName {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, rel+":"+info.Mode().String()+":"+strconv.FormatInt(info.Size(), 10))
		return nil
	})
	return out
}
