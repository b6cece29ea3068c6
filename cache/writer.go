package cache

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"
)

// enqueue hands an entry to the writer without ever blocking: when the queue
// is full (or the cache closing) the entry is dropped and counted.
func (c *Cache) enqueue(e Entry) {
	if c.closed.Load() {
		c.m.writeDropped.Inc()
		return
	}
	select {
	case c.writes <- e:
	default:
		c.m.writeDropped.Inc()
		c.o.Logger.Debug("semantic cache write queue full; entry dropped")
	}
}

// writer is the single owner of semantic writes: it batches queued entries
// (up to BatchSize, or whatever arrived within FlushInterval), embeds those
// without a vector, and inserts the batch. On Close it drains the queue for
// at most CloseTimeout.
func (c *Cache) writer() {
	defer c.wg.Done()
	s := &c.o.Semantic
	batch := make([]Entry, 0, s.BatchSize)
	tick := time.NewTicker(s.FlushInterval)
	defer tick.Stop()
	for {
		select {
		case e := <-c.writes:
			batch = append(batch, e)
			if len(batch) >= s.BatchSize {
				batch = c.flush(context.Background(), batch)
			}
		case <-tick.C:
			if len(batch) > 0 {
				batch = c.flush(context.Background(), batch)
			}
		case <-c.stop:
			ctx, cancel := context.WithTimeout(context.Background(), s.CloseTimeout)
			defer cancel()
			for {
				select {
				case e := <-c.writes:
					batch = append(batch, e)
					if len(batch) >= s.BatchSize {
						batch = c.flush(ctx, batch)
					}
					continue
				default:
				}
				break
			}
			if len(batch) > 0 {
				c.flush(ctx, batch)
			}
			return
		}
	}
}

// flush writes one batch and returns the emptied slice. A failed batch is
// dropped and counted (the answers were already served). A panic in the
// embedder or the store drops the batch too (errors{op="panic"}, logged
// with its stack) and the writer goes on.
func (c *Cache) flush(parent context.Context, batch []Entry) (out []Entry) {
	ctx, cancel := context.WithTimeout(parent, c.o.Semantic.WriteTimeout)
	defer cancel()
	defer func() {
		if v := recover(); v != nil {
			c.m.errors.WithLabelValues("panic").Inc()
			c.m.writeDropped.Add(float64(len(batch)))
			c.o.Logger.Error("panic in the semantic cache writer; batch dropped", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			out = clearBatch(batch)
		}
	}()
	if err := c.embedMissing(ctx, batch); err != nil {
		c.m.errors.WithLabelValues("embed").Inc()
		c.m.writeDropped.Add(float64(len(batch)))
		return clearBatch(batch)
	}
	if err := c.store.Insert(ctx, batch); err != nil {
		c.m.errors.WithLabelValues("insert").Inc()
		c.m.writeDropped.Add(float64(len(batch)))
		c.o.Logger.Warn("semantic cache insert failed; batch dropped", "entries", len(batch), "err", err)
		return clearBatch(batch)
	}
	c.m.written.Add(float64(len(batch)))
	return clearBatch(batch)
}

// embedMissing embeds, in one call, the prompts of entries stored without a
// vector (answers to requests that skipped the lookup).
func (c *Cache) embedMissing(ctx context.Context, batch []Entry) error {
	var texts []string
	var idx []int
	for i := range batch {
		if batch[i].Vec == nil {
			texts = append(texts, batch[i].Prompt)
			idx = append(idx, i)
		}
	}
	if len(texts) == 0 {
		return nil
	}
	vecs, err := c.emb.Embed(ctx, texts)
	if err != nil {
		return err
	}
	if len(vecs) != len(texts) {
		return errShortEmbed
	}
	for j, i := range idx {
		batch[i].Vec = vecs[j]
	}
	return nil
}

func clearBatch(b []Entry) []Entry {
	clear(b)
	return b[:0]
}

// purger deletes expired semantic entries every PurgeInterval, in batches of
// PurgeBatch, at most 10 batches a round.
func (c *Cache) purger() {
	defer c.wg.Done()
	s := &c.o.Semantic
	tick := time.NewTicker(s.PurgeInterval)
	defer tick.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-tick.C:
			if c.storeUp() {
				c.purgeOnce()
			}
		}
	}
}

func (c *Cache) purgeOnce() {
	s := &c.o.Semantic
	for range 10 {
		ctx, cancel := context.WithTimeout(context.Background(), s.WriteTimeout)
		n, err := c.store.Purge(ctx, s.PurgeBatch)
		cancel()
		if err != nil {
			c.m.errors.WithLabelValues("purge").Inc()
			return
		}
		c.m.purged.Add(float64(n))
		if n < s.PurgeBatch {
			return
		}
	}
}
