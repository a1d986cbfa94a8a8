package monitor

import (
	"context"

	"github.com/vigilhealth/vigil/ecg/beatclass"
)

// patientClassifier returns the classifier for a patient's new ECG
// stream: the active model.
func (m *Monitor) patientClassifier(ctx context.Context, patient string) *beatclass.Classifier {
	return m.cfg.ECG.Classifier
}
