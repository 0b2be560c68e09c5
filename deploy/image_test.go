package deploy

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// repoRoot is the checkout the Dockerfile builds from (its COPY . . context).
const repoRoot = ".."

// dockerfile is the parts of ../Dockerfile the tests rely on.
type dockerfile struct {
	buildEnv  []string          // the build line's VAR=value prefix
	buildArgs []string          // the go command's arguments
	outDir    string            // the build line's -o directory
	installed map[string]string // final-stage path -> build-stage path, from COPY --from=build
	final     string            // the final stage's base image
	user      string            // the final stage's USER
	volumes   []string          // the final stage's VOLUMEs
}

// parseDockerfile reads the Dockerfile: its one `RUN ... go build` line, and its final
// stage's COPY --from, USER and VOLUME instructions.
func parseDockerfile(t *testing.T) dockerfile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	d := dockerfile{installed: map[string]string{}}
	stages := 0
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "FROM":
			stages++
			d.final = f[1]
		case "RUN":
			if !strings.Contains(line, "go build") {
				continue
			}
			if d.buildArgs != nil {
				t.Fatal("Dockerfile: more than one go build line")
			}
			if strings.ContainsAny(line, "'\"$`;&|") {
				t.Fatalf("Dockerfile: the build line must be plain words (the tests run it as is): %s", line)
			}
			i := 1
			for ; i < len(f) && strings.Contains(f[i], "="); i++ {
				d.buildEnv = append(d.buildEnv, f[i])
			}
			if i+1 >= len(f) || f[i] != "go" || f[i+1] != "build" {
				t.Fatalf("Dockerfile: want RUN [VAR=value...] go build ..., got %s", line)
			}
			d.buildArgs = f[i+1:]
			for j, a := range d.buildArgs {
				if a == "-o" && j+1 < len(d.buildArgs) {
					d.outDir = d.buildArgs[j+1]
				}
			}
		case "COPY":
			if stages < 2 || !strings.HasPrefix(f[1], "--from=") {
				continue
			}
			args := slicesWithout(f[1:], "--")
			dest := args[len(args)-1]
			for _, src := range args[:len(args)-1] {
				if strings.HasSuffix(dest, "/") {
					d.installed[path.Join(dest, path.Base(src))] = src
				} else {
					d.installed[dest] = src
				}
			}
		case "USER":
			d.user = f[1]
		case "VOLUME":
			d.volumes = append(d.volumes, f[1:]...)
		}
	}
	if d.buildArgs == nil || !strings.HasSuffix(d.outDir, "/") {
		t.Fatal("Dockerfile: no `RUN ... go build -o DIR/ ...` line")
	}
	for dest, src := range d.installed { // keep the binaries the build line produced
		if !slices.Contains(d.produced(), strings.TrimPrefix(src, d.outDir)) {
			delete(d.installed, dest)
		}
	}
	return d
}

// produced is the names of the binaries the build line writes (one per package).
func (d dockerfile) produced() []string {
	var names []string
	for _, a := range d.buildArgs {
		if strings.HasPrefix(a, "./") {
			names = append(names, path.Base(a))
		}
	}
	return names
}

// slicesWithout drops the flags (words starting with prefix) from words.
func slicesWithout(words []string, prefix string) []string {
	var out []string
	for _, w := range words {
		if !strings.HasPrefix(w, prefix) {
			out = append(out, w)
		}
	}
	return out
}

// uid is the final stage's user id.
func (d dockerfile) uid(t *testing.T) int64 {
	u, _, _ := strings.Cut(d.user, ":")
	id, err := strconv.ParseInt(u, 10, 64)
	if err != nil {
		t.Fatalf("Dockerfile: USER %q: want a numeric uid (runAsNonRoot checks it)", d.user)
	}
	return id
}

var built struct {
	once sync.Once
	dir  string
	err  error
}

// binaries builds the image's binaries once per test process with the Dockerfile's own
// build line (its -o directory replaced by a temporary one) and returns the directory.
// Skipped with -short.
func binaries(t *testing.T) (string, dockerfile) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the image's binaries")
	}
	d := parseDockerfile(t)
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "legion-image-")
		if err != nil {
			built.err = err
			return
		}
		built.dir = dir
		args := make([]string, len(d.buildArgs))
		for i, a := range d.buildArgs {
			args[i] = strings.Replace(a, d.outDir, dir+"/", 1)
		}
		cmd := exec.Command("go", args...)
		cmd.Dir = repoRoot
		// The image's build has no GOFLAGS (CI's -race needs cgo, which the line turns off).
		cmd.Env = append(withoutVar(os.Environ(), "GOFLAGS"), d.buildEnv...)
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.dir, d
}

func withoutVar(env []string, name string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// binaryFor maps a path in the image (a container's command) to the built binary.
func binaryFor(t *testing.T, dir string, d dockerfile, imagePath string) string {
	t.Helper()
	src, ok := d.installed[imagePath]
	if !ok {
		t.Fatalf("%s is not a binary the Dockerfile installs (it installs %v)", imagePath, d.installed)
	}
	if !strings.HasPrefix(src, d.outDir) {
		t.Fatalf("Dockerfile installs %s from %s, not from the build's %s", imagePath, src, d.outDir)
	}
	return filepath.Join(dir, strings.TrimPrefix(src, d.outDir))
}

// TestImage: the Dockerfile builds static binaries (no interpreter, no shared library:
// they run on a base with no libc), runs them on a minimal base as a numeric non-root
// user, and declares the data directory a volume.
func TestImage(t *testing.T) {
	dir, d := binaries(t)
	if !regexp.MustCompile(`^gcr\.io/distroless/static(-debian\d+)?:nonroot$`).MatchString(d.final) {
		t.Errorf("final stage FROM %s: want distroless static, nonroot", d.final)
	}
	if d.uid(t) == 0 {
		t.Error("Dockerfile: USER is root")
	}
	if len(d.volumes) != 1 || d.volumes[0] != dataMount {
		t.Errorf("Dockerfile: VOLUME %v, want [%s]", d.volumes, dataMount)
	}
	if len(d.installed) != len(d.produced()) {
		t.Errorf("Dockerfile: the build produces %v, the final stage installs %v", d.produced(), d.installed)
	}
	for imagePath := range d.installed {
		bin := binaryFor(t, dir, d, imagePath)
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatalf("%s: %v", imagePath, err)
		}
		libs, err := f.ImportedLibraries()
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s is dynamically linked (it has an interpreter)", imagePath)
			}
		}
		if err != nil || len(libs) > 0 {
			t.Errorf("%s needs shared libraries %v (%v)", imagePath, libs, err)
		}
		f.Close()
	}
}

// dataMount is where the image and the manifests keep the node's data directory.
const dataMount = "/var/lib/legion"
