// Command consul-build builds and caches the Consul binary used by the
// integration tests (see package consultest) and prints its path. CI runs it
// once before the tests:
//
//	go run ./discovery/consul/consultest/cmd/consul-build
package main

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/legion-go/legion/discovery/consul/consultest"
)

func main() {
	log.SetFlags(0)
	path, err := consultest.Build(context.Background(), log.Printf)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintln(os.Stdout, path)
}
