package records

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/sampleobs"
)

// SampleSource is the part of a vigil.SampleStore that shows device data
// to FHIR clients: Read, Search and Everything add the samples and
// waveform chunks it holds to the stored Observations (see
// WithSamples). vigil.SampleStore satisfies it.
type SampleSource interface {
	// QuerySamples returns samples of one patient in (time, code, device)
	// order, reversed with Desc.
	QuerySamples(ctx context.Context, q *vigil.SampleQuery) ([]vigil.Sample, error)
	// QueryWaveforms returns the chunks of a patient and code overlapping
	// [from, to), in start order.
	QueryWaveforms(ctx context.Context, patient, code string, from, to time.Time) ([]vigil.Waveform, error)
}

// Every sample store is a SampleSource.
var _ SampleSource = vigil.SampleStore(nil)

// WithSamples shows the samples and waveform chunks of src as FHIR
// Observations (rendered by package sampleobs, version 1, lastUpdated the
// time Vigil received them):
//
//   - Read and vread (version 1) of an id made by sampleobs.SampleID or
//     WaveformID, when no stored resource has that id.
//   - Samples whose Source is "fhir" are copies of Observations written
//     through the FHIR API (the stored Observation is shown); they are
//     not shown a second time.
//   - Observation searches that name one patient (subject=Patient/X,
//     patient=X, or the compartment Patient/X/Observation) and
//     Patient/X/$everything list the patient's samples with the stored
//     Observations. A search without a patient lists no samples.
//
// visible decides whether the caller of ctx may see a patient's data (for
// example access.Policy.SeesPatient); a nil visible shows every patient.
// Samples of a patient the caller may not see are neither read nor listed,
// and every patient whose samples are returned is noted in the request's
// vigil.PatientLog.
func WithSamples(src SampleSource, visible func(ctx context.Context, patient string) (bool, error)) Option {
	return func(s *Service) {
		s.samples = src
		s.seesPatient = visible
	}
}

// farPast and farFuture bound waveform queries that the search leaves
// open (QueryWaveforms needs a finite window).
var (
	farPast   = time.Date(1800, 1, 1, 0, 0, 0, 0, time.UTC)
	farFuture = time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
)

// sees reports whether the caller may see patient's samples.
func (s *Service) sees(ctx context.Context, patient string) (bool, error) {
	if s.seesPatient == nil {
		return true, nil
	}
	return s.seesPatient(ctx, patient)
}

// readSample is Read (and vread of version 1) for an Observation id that
// names a sample or waveform chunk. ok is false when the id does not name
// one that the caller may see, so that the caller answers its own error.
func (s *Service) readSample(ctx context.Context, typ, id string) (r *vigil.Resource, ok bool, err error) {
	if s.samples == nil || typ != "Observation" {
		return nil, false, nil
	}
	pid, err := sampleobs.ParseID(id)
	if err != nil {
		return nil, false, nil
	}
	see, err := s.sees(ctx, pid.Patient)
	if err != nil {
		return nil, true, err
	}
	if !see {
		return nil, false, nil
	}
	switch pid.Kind {
	case sampleobs.KindSample:
		list, err := s.samples.QuerySamples(ctx, pid.Query())
		if err != nil {
			return nil, true, err
		}
		for i := range list {
			if pid.Device(list[i].Device) && list[i].Source != copySource {
				return s.foundSample(ctx, &sampleItem{s: &list[i]})
			}
		}
	case sampleobs.KindWaveform:
		list, err := s.samples.QueryWaveforms(ctx, pid.Patient, pid.Code, pid.Time, pid.Time.Add(time.Millisecond))
		if err != nil {
			return nil, true, err
		}
		for i := range list {
			if list[i].Start.Equal(pid.Time) && pid.Device(list[i].Device) && list[i].Source != copySource {
				return s.foundSample(ctx, &sampleItem{w: &list[i]})
			}
		}
	}
	return nil, false, nil
}

func (s *Service) foundSample(ctx context.Context, it *sampleItem) (*vigil.Resource, bool, error) {
	r, err := it.resource()
	if err != nil {
		return nil, true, err
	}
	vigil.PatientLogFrom(ctx).Note(it.patient())
	return r, true, nil
}

// sampleItem is one sample or one waveform chunk.
type sampleItem struct {
	s *vigil.Sample
	w *vigil.Waveform
}

func (it *sampleItem) patient() string {
	if it.s != nil {
		return it.s.Patient
	}
	return it.w.Patient
}

// copySource is the Source of samples derived from Observations written
// through the FHIR API (ingest.FromObservation): the stored Observation is
// the record and is shown already, so the copy is not shown again.
const copySource = "fhir"

// copied reports whether the item is such a copy.
func (it *sampleItem) copied() bool {
	if it.s != nil {
		return it.s.Source == copySource
	}
	return it.w.Source == copySource
}

// key returns the item's position in the order of sample streams: time,
// code, device, then samples before waveform chunks.
func (it *sampleItem) key() sampleKey {
	if it.s != nil {
		return sampleKey{T: it.s.Time.UnixMilli(), Code: it.s.Code, Device: it.s.Device, Kind: byte(sampleobs.KindSample)}
	}
	return sampleKey{T: it.w.Start.UnixMilli(), Code: it.w.Code, Device: it.w.Device, Kind: byte(sampleobs.KindWaveform)}
}

// effective returns the range of the Observation's effective[x] as the
// search date parameter sees it: a sample is an instant at millisecond
// precision, [t, t+1ms); a chunk is [start, end).
func (it *sampleItem) effective() (time.Time, time.Time) {
	if it.s != nil {
		return it.s.Time, it.s.Time.Add(time.Millisecond)
	}
	end := it.w.End()
	if !end.After(it.w.Start) {
		end = it.w.Start.Add(time.Millisecond)
	}
	return it.w.Start, end
}

// received returns the item's meta.lastUpdated: when Vigil received it
// (its effective time when the store did not keep that).
func (it *sampleItem) received() time.Time {
	var r, t time.Time
	if it.s != nil {
		r, t = it.s.Received, it.s.Time
	} else {
		r, t = it.w.Received, it.w.Start
	}
	if r.IsZero() {
		r = t
	}
	return r.UTC().Truncate(time.Millisecond)
}

// resource renders the item as an Observation, version 1.
func (it *sampleItem) resource() (*vigil.Resource, error) {
	var data []byte
	var id string
	var err error
	if it.s != nil {
		if data, err = sampleobs.Observation(it.s); err == nil {
			id, err = sampleobs.SampleID(it.s.Key())
		}
	} else {
		if data, err = sampleobs.WaveformObservation(it.w); err == nil {
			id, err = sampleobs.WaveformID(it.w)
		}
	}
	if err != nil {
		// Ingest validated what is stored; a reading that cannot be shown
		// is a fault of the store, not of the request.
		// (%v, not %w: not the client's ErrInvalid, a server error).
		return nil, fmt.Errorf("render sample observation: %v", err)
	}
	lu := it.received()
	const head = `{"resourceType":"Observation",`
	if !bytes.HasPrefix(data, []byte(head)) {
		return nil, errors.New("render sample observation: unexpected JSON layout")
	}
	var buf bytes.Buffer
	buf.Grow(len(data) + 64)
	buf.WriteString(head)
	buf.WriteString(`"meta":{"versionId":"1","lastUpdated":"`)
	buf.WriteString(FormatInstant(lu))
	buf.WriteString(`"},`)
	buf.Write(data[len(head):])
	return &vigil.Resource{Type: "Observation", ID: id, Version: 1, LastUpdated: lu, Method: "POST", JSON: buf.Bytes()}, nil
}
