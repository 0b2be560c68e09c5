package deploy

import (
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// flagSet is the flags a binary's subcommand defines, as its -h lists them.
type flagSet struct {
	prefix string          // the environment variables' prefix, COUNTER for counter
	isBool map[string]bool // every flag, true for a boolean one
}

var usageLine = regexp.MustCompile(`(?m)^  -([A-Za-z0-9][A-Za-z0-9-]*)( \S+)?(\t|$)`)

// flagsOf runs bin with the subcommand words of args and -h, and reads the flags its
// usage lists. prefix is the binary's environment prefix.
func flagsOf(t *testing.T, bin string, args []string, prefix string) flagSet {
	t.Helper()
	var words []string
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			break
		}
		words = append(words, a)
	}
	out, err := exec.Command(bin, append(words, "-h")...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s -h: %v\n%s", bin, strings.Join(words, " "), err, out)
	}
	fs := flagSet{prefix: prefix, isBool: map[string]bool{}}
	for _, m := range usageLine.FindAllStringSubmatch(string(out), -1) {
		fs.isBool[m[1]] = m[2] == ""
	}
	if len(fs.isBool) < 5 {
		t.Fatalf("%s -h lists only %d flags:\n%s", bin, len(fs.isBool), out)
	}
	return fs
}

// envName is the environment variable of a flag (examples/internal/nodeconf.EnvName).
func (fs flagSet) envName(flag string) string {
	return fs.prefix + "_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// expand replaces the $(VAR) references of s as the kubelet does: a variable of vars,
// else left as it is; $$ is a literal $.
func expand(s string, vars map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case strings.HasPrefix(s[i:], "$$"):
			b.WriteByte('$')
			i++
		case strings.HasPrefix(s[i:], "$("):
			if end := strings.IndexByte(s[i:], ')'); end > 0 {
				if v, ok := vars[s[i+2:i+end]]; ok {
					b.WriteString(v)
					i += end
					continue
				}
			}
			b.WriteByte(s[i])
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// pod is what the kubelet gives one pod of a StatefulSet: the downward API's fields.
type pod struct {
	name, namespace, ip, hostIP string
}

func (p pod) field(path string) (string, error) {
	switch path {
	case "metadata.name":
		return p.name, nil
	case "metadata.namespace":
		return p.namespace, nil
	case "status.podIP":
		return p.ip, nil
	case "status.hostIP":
		return p.hostIP, nil
	}
	return "", fmt.Errorf("downward API field %q: not one the tests know", path)
}

// containerEnv is the environment the kubelet gives container c in pod p, in order,
// each value expanded against the variables before it.
func containerEnv(c corev1.Container, p pod) ([]string, map[string]string, error) {
	vars := map[string]string{}
	var env []string
	if len(c.EnvFrom) > 0 {
		return nil, nil, fmt.Errorf("container %s: envFrom is not supported by the tests", c.Name)
	}
	for _, e := range c.Env {
		v := expand(e.Value, vars)
		if e.ValueFrom != nil {
			if e.ValueFrom.FieldRef == nil {
				return nil, nil, fmt.Errorf("env %s: only fieldRef values are supported by the tests", e.Name)
			}
			var err error
			if v, err = p.field(e.ValueFrom.FieldRef.FieldPath); err != nil {
				return nil, nil, fmt.Errorf("env %s: %w", e.Name, err)
			}
		}
		vars[e.Name] = v
		env = append(env, e.Name+"="+v)
	}
	return env, vars, nil
}

// nodeConfig is the flag values a node process ends up with: its arguments' flags, and
// for the others its environment's (a flag on the command line wins).
type nodeConfig map[string]string

// resolve computes the node configuration of args (expanded) and env under fs, and
// reports an argument or a variable that names no flag, and a flag given both ways (the
// environment and the arguments must agree, and the binary would drop the variable).
func (fs flagSet) resolve(args []string, vars map[string]string) (nodeConfig, error) {
	cfg := nodeConfig{}
	i := 0
	for i < len(args) && !strings.HasPrefix(args[i], "-") {
		i++ // subcommand words
	}
	for ; i < len(args); i++ {
		a := strings.TrimLeft(args[i], "-")
		name, value, hasValue := strings.Cut(a, "=")
		isBool, ok := fs.isBool[name]
		switch {
		case !ok:
			return nil, fmt.Errorf("argument %q: no flag -%s", args[i], name)
		case hasValue:
		case isBool:
			value = "true"
		case i+1 < len(args):
			i++
			value = args[i]
		default:
			return nil, fmt.Errorf("argument %q: no value", args[i])
		}
		cfg[name] = value
	}
	envFlags := map[string]string{}
	for flag := range fs.isBool {
		envFlags[fs.envName(flag)] = flag
	}
	for name, v := range vars {
		flag, ok := envFlags[name]
		if !ok {
			if strings.HasPrefix(name, fs.prefix+"_") {
				return nil, fmt.Errorf("env %s: no flag of that name (a typo would be ignored by the binary)", name)
			}
			continue
		}
		if a, given := cfg[flag]; given {
			return nil, fmt.Errorf("-%s is both an argument (%q) and %s (%q): the argument wins, silently", flag, a, name, v)
		}
		cfg[flag] = v
	}
	return cfg, nil
}
