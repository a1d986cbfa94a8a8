package mqtt

import (
	"context"
	"fmt"
	"sync"

	"github.com/eclipse/paho.golang/paho"

	"github.com/vigilhealth/vigil"
)

// maxDrain bounds the messages a worker takes from its queue at once.
const maxDrain = 256

// worker ingests the messages of its devices. It takes what is queued (up
// to maxDrain messages) and ingests each device's readings from those
// messages with one Ingest call, so that one-reading messages do not cost
// one store transaction each.
func (c *conn) worker(ctx context.Context, in <-chan *paho.Publish) {
	batch := make([]*paho.Publish, 0, maxDrain)
	for {
		select {
		case <-c.done:
			return
		default:
		}
		if c.bad.Load() {
			// The connection is going down; what is queued comes again.
			<-c.done
			return
		}
		select {
		case <-c.done:
			return
		case p := <-in:
			batch = append(batch[:0], p)
		drain:
			for len(batch) < maxDrain {
				select {
				case p := <-in:
					batch = append(batch, p)
				default:
					break drain
				}
			}
			c.handle(ctx, batch)
		}
	}
}

// job is one message on its way through handle.
type job struct {
	p   *paho.Publish
	dev string
	pl  *Payload
	res Result
}

// handle ingests messages, acknowledging each once its readings are
// durable; on a transient failure it fails the connection, leaving the
// rest unacknowledged.
func (c *conn) handle(ctx context.Context, msgs []*paho.Publish) {
	s := c.s
	var groups []string // devices in order of first message
	byDev := map[string][]*job{}
	for _, p := range msgs {
		dev, ok := s.cfg.Topics.deviceOf(p.Topic)
		if !ok {
			// Only the readings filter is subscribed, so this is a device id
			// that cannot be valid; there is no results topic to answer on.
			s.stats.refused.Add(1)
			c.ack(p)
			continue
		}
		j := &job{p: p, dev: dev}
		if !s.prepare(j) {
			c.finish(j)
			continue
		}
		if byDev[dev] == nil {
			groups = append(groups, dev)
		}
		byDev[dev] = append(byDev[dev], j)
	}
	// The devices' Ingest calls run concurrently, so that the store commits
	// them together (its writers group the calls waiting) instead of one
	// commit after the other; the messages are then acknowledged in the
	// order of the devices' first messages.
	errs := make([]error, len(groups))
	var wg sync.WaitGroup
	for g, dev := range groups {
		wg.Go(func() { errs[g] = s.ingestDevice(ctx, dev, byDev[dev]) })
	}
	wg.Wait()
	for g, dev := range groups {
		if errs[g] != nil {
			s.stats.failures.Add(1)
			c.failed(errs[g])
			return
		}
		for _, j := range byDev[dev] {
			c.finish(j)
		}
	}
}

// ingestDevice ingests the jobs of one device, in Ingest calls bounded by
// the per-payload item limit. It returns an error only for a transient
// failure.
func (s *Subscriber) ingestDevice(ctx context.Context, dev string, jobs []*job) error {
	for len(jobs) > 0 {
		n, items := 0, 0
		for n < len(jobs) && (n == 0 || items+len(jobs[n].pl.Readings) <= s.cfg.Limits.MaxItems) {
			items += len(jobs[n].pl.Readings)
			n++
		}
		if err := s.ingest(ctx, dev, jobs[:n]); err != nil {
			return err
		}
		jobs = jobs[n:]
	}
	return nil
}

// finish acknowledges a handled message and sends its Result when needed.
func (c *conn) finish(j *job) {
	c.ack(j.p)
	if j.res.Error != "" || c.s.cfg.AllResults || hasRejection(j.res.Items) {
		c.publish(j.dev, j.p, j.res)
	}
}

func (c *conn) ack(p *paho.Publish) {
	c.s.stats.messages.Add(1)
	if err := c.cli.Ack(p); err != nil {
		// The connection was replaced; the broker delivers it again.
		c.s.cfg.Logger.Debug("mqtt ack after reconnect", "error", err)
	}
}

// prepare decodes a message. It reports false when the message is done
// (refused, or nothing in it to ingest), with j.res set.
func (s *Subscriber) prepare(j *job) bool {
	pl, err := Decode(j.p.Payload, s.cfg.Limits)
	if err != nil {
		s.stats.refused.Add(1)
		j.res = Result{Error: vigil.PublicMessage(err)}
		return false
	}
	for i := range pl.Readings {
		switch r := &pl.Readings[i]; r.Device {
		case "":
			r.Device = j.dev
		case j.dev:
		default:
			s.stats.refused.Add(1)
			j.res = Result{Error: fmt.Sprintf("item %d names another device than the topic", pl.Index[i])}
			return false
		}
	}
	j.pl = pl
	j.res.Items = make([]vigil.ItemResult, pl.Items)
	for _, r := range pl.Rejected {
		j.res.Items[r.Index] = r
	}
	s.stats.rejected.Add(int64(len(pl.Rejected)))
	return len(pl.Readings) > 0
}

// ingest stores the readings of jobs, all from device dev, with one Ingest
// call, and fills in their Results. It returns an error only for a
// transient failure.
func (s *Subscriber) ingest(ctx context.Context, dev string, jobs []*job) error {
	refuse := func(msg string) error {
		for _, j := range jobs {
			s.stats.refused.Add(1)
			j.res = Result{Error: msg}
		}
		return nil
	}
	p, err := s.cfg.Principal(ctx, dev)
	if err == nil && p == nil {
		err = vigil.Errorf(vigil.ErrUnauthorized, "unknown device")
	}
	if err != nil {
		if permanent(err) {
			return refuse("device may not submit readings: " + vigil.PublicMessage(err))
		}
		return fmt.Errorf("principal of device: %w", err)
	}
	items := jobs[0].pl.Readings
	if len(jobs) > 1 {
		items = nil
		for _, j := range jobs {
			items = append(items, j.pl.Readings...)
		}
	}
	// A batch being ingested is finished on shutdown rather than cut short
	// (which would only make the broker send it again).
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.IngestTimeout)
	defer cancel()
	got, err := s.cfg.Ingester.Ingest(vigil.WithPrincipal(ictx, p), s.cfg.Source, items)
	if err != nil {
		if permanent(err) {
			return refuse(vigil.PublicMessage(err))
		}
		return fmt.Errorf("ingest: %w", err)
	}
	if len(got) != len(items) {
		return fmt.Errorf("ingest: %d results for %d readings", len(got), len(items))
	}
	s.stats.readings.Add(int64(len(items)))
	off := 0
	for _, j := range jobs {
		for i := range j.pl.Readings {
			r := got[off+i]
			r.Index = j.pl.Index[i]
			j.res.Items[r.Index] = r
			switch r.Status {
			case vigil.ItemStored:
				s.stats.stored.Add(1)
			case vigil.ItemDuplicate:
				s.stats.duplicate.Add(1)
			default:
				s.stats.rejected.Add(1)
			}
		}
		off += len(j.pl.Readings)
	}
	return nil
}
