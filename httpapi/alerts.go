package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/vigilhealth/vigil"
)

// AlertService is what the alert API needs from the alert engine.
type AlertService interface {
	// List returns alerts of a patient ("" for any) with a status (""
	// for any), newest first.
	List(ctx context.Context, patient string, status vigil.AlertStatus) ([]vigil.Alert, error)
	Get(ctx context.Context, id string) (*vigil.Alert, error)
	Acknowledge(ctx context.Context, id, by, note string) (*vigil.Alert, error)
	Resolve(ctx context.Context, id, by, note string) (*vigil.Alert, error)
	// OpenCount counts a patient's alerts that are not resolved.
	OpenCount(ctx context.Context, patient string) (int, error)
}

func asType[T error](err error, target *T) bool { return errors.As(err, target) }

func (s *Server) alertRoutes(mux *http.ServeMux) {}
