package memory_test

import (
	"testing"

	"github.com/legion-go/legion/storage"
	"github.com/legion-go/legion/storage/memory"
	"github.com/legion-go/legion/storage/storagetest"
)

var testID = storage.Identity{Node: "n1", Incarnation: "0123456789abcdef"}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return memory.New(testID) })
}

func BenchmarkCommit(b *testing.B) {
	storagetest.BenchmarkCommit(b, func(b *testing.B) storage.Store { return memory.New(testID) }, nil)
}
