package main

// CertsCmd creates or renews the certificate bundle.
type CertsCmd struct {
	SpecArgs
	Out string `short:"o" required:"" placeholder:"DIR" help:"Bundle directory."`
}

func (c *CertsCmd) Run(e *env) error {
	return usagef("etcdgen certs is not built yet")
}
