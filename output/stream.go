package output

import (
	"bytes"
	"fmt"
	"io"

	"github.com/etcdgen/etcdgen/render"
)

// WriteStdout writes one file's bytes, or several as a txtar archive
// ("-- path --" headers). Private keys never go to stdout.
func WriteStdout(w io.Writer, files []render.File) error {
	for _, f := range files {
		if f.Secret() {
			return fmt.Errorf("%s is a private key and is never written to stdout; give --out DIR", f.Path)
		}
	}
	if len(files) == 1 {
		_, err := w.Write(files[0].Data)
		return err
	}
	var b bytes.Buffer
	for _, f := range files {
		fmt.Fprintf(&b, "-- %s --\n", f.Path)
		b.Write(f.Data)
		if len(f.Data) > 0 && f.Data[len(f.Data)-1] != '\n' {
			b.WriteByte('\n')
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}
