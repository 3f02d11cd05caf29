package bundle

import (
	"github.com/etcdgen/etcdgen/output"
	"github.com/etcdgen/etcdgen/render"
)

// readState reads m's bundle in dir through the output layer, as the CLI
// does.
func readState(dir string, m *render.Model) (*State, error) {
	b, err := output.OpenBundle(dir, false, nil)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	files, modes, err := b.Read(Names(m))
	if err != nil {
		return nil, err
	}
	return NewState(dir, files, modes), nil
}

// writeBundle commits files into dir through the output layer.
func writeBundle(dir string, files []render.File, chmod []string) error {
	b, err := output.OpenBundle(dir, true, nil)
	if err != nil {
		return err
	}
	defer b.Close()
	return b.Commit(files, chmod)
}
