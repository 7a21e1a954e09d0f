package server

import "sync"

// keyLock hands out one mutex per key and forgets it when nobody holds or
// waits for it, so memory stays bounded by the runs in use.
type keyLock struct {
	mu    sync.Mutex
	locks map[string]*refMutex
}

type refMutex struct {
	sync.Mutex
	refs int
}

func newKeyLock() *keyLock { return &keyLock{locks: map[string]*refMutex{}} }

// lock locks key and returns its unlock function.
func (k *keyLock) lock(key string) (unlock func()) {
	k.mu.Lock()
	m, ok := k.locks[key]
	if !ok {
		m = &refMutex{}
		k.locks[key] = m
	}
	m.refs++
	k.mu.Unlock()

	m.Lock()
	return func() {
		m.Unlock()
		k.mu.Lock()
		m.refs--
		if m.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}
