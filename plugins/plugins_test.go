package plugins_test

import (
	"errors"
	"testing"

	"github.com/jimu-crm/jimu/plugins"
)

type probe struct{ provisioned, cleaned bool }

func (*probe) ID() string { return "test.probe" }
func (p *probe) Provision() error {
	p.provisioned = true
	return nil
}
func (p *probe) Validate() error {
	if !p.provisioned {
		return errors.New("not provisioned")
	}
	return nil
}

func TestRegistry(t *testing.T) {
	plugins.Register(plugins.Info{ID: "test.probe", New: func() plugins.Module { return &probe{} }})
	m, err := plugins.Load("test.probe")
	if err != nil || !m.(*probe).provisioned {
		t.Fatalf("load: %v %v", m, err)
	}
	if ids := plugins.Namespace("test"); len(ids) != 1 || ids[0] != "test.probe" {
		t.Fatalf("namespace: %v", ids)
	}
	if _, err := plugins.Load("test.nope"); err == nil {
		t.Fatal("unknown module loaded")
	}
	for _, id := range []string{"test.probe", "noNamespace", ""} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Register(%q) did not panic", id)
				}
			}()
			plugins.Register(plugins.Info{ID: id, New: func() plugins.Module { return &probe{} }})
		}()
	}
}
