package postgres_test

import (
	"testing"

	"github.com/vigilhealth/vigil/storetest"
)

func TestBeats(t *testing.T) {
	d := &sampleSchemas{urls: map[*testing.T]string{}}
	storetest.TestBeats(t, func(t *testing.T) storetest.BeatStores { return d.open(t) })
}
