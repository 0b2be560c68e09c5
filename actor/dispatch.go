package actor

import "sync"

// pool is the Proto.Actor dispatcher of a node's router and shards. Proto.Actor's
// default starts a goroutine each time a mailbox gets work; a replica's call chain
// (decode, fold, encode, commit) is deep enough that every such goroutine grew its stack
// several times, which cost about a seventh of the CPU under load. The pool hands the
// work to one of its long-lived workers when one is idle (their stacks are grown already)
// and starts a goroutine only when all are busy, so a worker never waits for another.
type pool struct {
	work       chan func()
	throughput int
	stop       chan struct{}
	once       sync.Once
	wg         sync.WaitGroup
}

func newPool(workers, throughput int) *pool {
	p := &pool{work: make(chan func()), throughput: throughput, stop: make(chan struct{})}
	p.wg.Add(workers)
	for range workers {
		go p.worker()
	}
	return p
}

func (p *pool) worker() {
	defer p.wg.Done()
	for {
		select {
		case fn := <-p.work:
			fn()
		case <-p.stop:
			return
		}
	}
}

// Schedule runs fn on an idle worker, or on a new goroutine when none is idle.
func (p *pool) Schedule(fn func()) {
	select {
	case p.work <- fn:
	default:
		go fn()
	}
}

// Throughput is how many messages a mailbox processes before it yields its worker.
func (p *pool) Throughput() int { return p.throughput }

// close stops the idle workers; work scheduled afterwards runs on its own goroutine.
func (p *pool) close() {
	p.once.Do(func() { close(p.stop) })
	p.wg.Wait()
}
