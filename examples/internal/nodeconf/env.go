package nodeconf

import (
	"flag"
	"fmt"
	"strings"
)

// EnvName is the environment variable of flag name under prefix: prefix, an
// underscore, and the name in upper case with each '-' an '_' (COUNTER and
// gossip-advertise give COUNTER_GOSSIP_ADVERTISE).
func EnvName(prefix, name string) string {
	return prefix + "_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// FromEnv sets every flag of fs that the command line did not set from its
// environment variable ([EnvName]), if lookup finds it: the command line wins over the
// environment, and the environment over the default. Call it after fs.Parse. A value
// the flag refuses is an error naming the variable. Variables with the prefix that name
// no flag are ignored (Kubernetes sets COUNTER_PORT and the like for a Service named
// counter).
func FromEnv(fs *flag.FlagSet, prefix string, lookup func(string) (string, bool)) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || given[f.Name] {
			return
		}
		name := EnvName(prefix, f.Name)
		if v, ok := lookup(name); ok {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("%s=%q: %w", name, v, serr)
			}
		}
	})
	return err
}
