package mllp_test

import (
	"context"
	"fmt"
	"net"

	"github.com/vigilhealth/vigil/mllp"
)

func Example() {
	srv := &mllp.Server{Handler: func(ctx context.Context, msg []byte) []byte {
		// Vigil parses msg (package hl7), stores it durably, then builds
		// the ACK with hl7.NewACK.
		return fmt.Appendf(nil, "ACK of a %d-byte message", len(msg))
	}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	go srv.Serve(l)
	defer srv.Shutdown(context.Background())

	c, err := mllp.Dial(context.Background(), l.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	ack, err := c.Send(context.Background(), []byte("MSH|^~\\&|SENDER||VIGIL||||ORU^R01|42|P|2.5\r"))
	fmt.Println(string(ack), err)
	// Output:
	// ACK of a 43-byte message <nil>
}
