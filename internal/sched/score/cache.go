package score

import "sync"

// perWorkload caches one value per workload for the last few workloads a
// scorer saw: a History hands out a new *sched.Workload as it grows, so
// entries for older ones are dropped, oldest first, beyond maxWorkloads. It
// is safe for concurrent use.
type perWorkload[K comparable, V any] struct {
	mu   sync.Mutex
	keys []K // oldest first
	vals map[K]V
}

// maxWorkloads is how many workloads a scorer keeps tables for.
const maxWorkloads = 4

// get returns the value for k, building it with build on a miss.
func (c *perWorkload[K, V]) get(k K, build func() V) V {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.vals[k]; ok {
		return v
	}
	if c.vals == nil {
		c.vals = map[K]V{}
	}
	if len(c.keys) == maxWorkloads {
		delete(c.vals, c.keys[0])
		c.keys = append(c.keys[:0], c.keys[1:]...)
	}
	v := build()
	c.keys = append(c.keys, k)
	c.vals[k] = v
	return v
}

// len returns the number of cached values.
func (c *perWorkload[K, V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.vals)
}
