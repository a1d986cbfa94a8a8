package modelreg_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vigilhealth/vigil/modelreg"
)

// ExampleLoadActive shows what a server does at start: load the registry's
// active beat classifier, which is the embedded default model until a
// version has been promoted.
func ExampleLoadActive() {
	data, _ := os.MkdirTemp("", "vigil-data")
	defer os.RemoveAll(data)
	c, entry, err := modelreg.LoadActive(context.Background(), modelreg.DefaultDir(data))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("registry version:", entry != nil)
	fmt.Println("classifier:", c.Version()[:len("beatclass-")])
	fmt.Println("registry:", filepath.Base(modelreg.DefaultDir(data)))
	// Output:
	// registry version: false
	// classifier: beatclass-
	// registry: models
}
