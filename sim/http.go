package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/vigilhealth/vigil"
)

// HTTPSink posts readings to POST {base}/api/v1/ingest as a JSON array,
// with the device's bearer token (or the default token), one request per
// token.
type HTTPSink struct {
	url    string
	token  string
	tokens map[string]string // device → token
	client *http.Client
}

// NewHTTPSink returns a sink posting to base (e.g. https://vigil.example)
// with token for devices that have no Token of their own. client nil means
// http.DefaultClient.
func NewHTTPSink(base, token string, patients []Patient, client *http.Client) (*HTTPSink, error) {
	if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		return nil, fmt.Errorf("sim: target %q: want http:// or https://", base)
	}
	if client == nil {
		client = http.DefaultClient
	}
	s := &HTTPSink{url: strings.TrimSuffix(base, "/") + "/api/v1/ingest", token: token, tokens: map[string]string{}, client: client}
	for _, p := range patients {
		if p.Token != "" {
			s.tokens[p.Device] = p.Token
		}
	}
	return s, nil
}

// Send posts rs, grouped by token.
func (s *HTTPSink) Send(ctx context.Context, rs []vigil.Reading) (int, error) {
	groups := map[string][]vigil.Reading{}
	var order []string
	for _, r := range rs {
		tok, ok := s.tokens[r.Device]
		if !ok {
			tok = s.token
		}
		if _, seen := groups[tok]; !seen {
			order = append(order, tok)
		}
		groups[tok] = append(groups[tok], r)
	}
	rejected := 0
	for _, tok := range order {
		n, err := s.post(ctx, tok, groups[tok])
		rejected += n
		if err != nil {
			return rejected, err
		}
	}
	return rejected, nil
}

// ingestResponse is the answer of POST /api/v1/ingest.
type ingestResponse struct {
	Results  []vigil.ItemResult `json:"results"`
	Rejected *int               `json:"rejected"`
}

func (s *HTTPSink) post(ctx context.Context, token string, rs []vigil.Reading) (int, error) {
	body, err := json.Marshal(rs)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return 0, err
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return 0, vigil.Errorf(vigil.ErrUnauthorized, "POST %s: 401 (check the token)", s.url)
	case resp.StatusCode == http.StatusForbidden:
		return 0, vigil.Errorf(vigil.ErrForbidden, "POST %s: 403 (the token may not submit readings)", s.url)
	case resp.StatusCode/100 != 2:
		return 0, fmt.Errorf("POST %s: %s: %s", s.url, resp.Status, bytes.TrimSpace(data[:min(len(data), 300)]))
	}
	var out ingestResponse
	if err := json.Unmarshal(data, &out); err != nil {
		return 0, fmt.Errorf("POST %s: unexpected answer: %w", s.url, err)
	}
	if out.Rejected != nil {
		return *out.Rejected, nil
	}
	n := 0
	for _, r := range out.Results {
		if r.Status == vigil.ItemRejected {
			n++
		}
	}
	return n, nil
}

// Close does nothing.
func (s *HTTPSink) Close() error { return nil }
