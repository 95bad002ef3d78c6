package device

import "context"

// npuSMIOutput is what `npu-smi info` and `npu-smi info -m` printed, what
// Discover, Health and Telemetry all start from. ChipMap is nil when `-m`
// failed (MapErr says why); the chips are then numbered in table order.
type npuSMIOutput struct {
	path          string
	info, chipMap []byte
	mapErr        error
}

// readNPUSMI runs `npu-smi info` and `npu-smi info -m`. Without npu-smi
// installed it returns nil and no error: there are no Ascend devices.
func (a *Ascend) readNPUSMI(ctx context.Context) (*npuSMIOutput, error) {
	path, err := a.lookPath()
	if err != nil {
		return nil, nil
	}
	o := &npuSMIOutput{path: path}
	if o.info, err = a.run(ctx, path, "info"); err != nil {
		return nil, err
	}
	if o.chipMap, o.mapErr = a.run(ctx, path, "info", "-m"); o.mapErr != nil {
		o.chipMap = nil
	}
	return o, nil
}

// parseNPUSMIOutputs parses the table of `npu-smi info` and, when chipMap
// is not nil, the chip map of `npu-smi info -m`.
func parseNPUSMIOutputs(info, chipMap []byte) (npuTable, map[chipKey]int, error) {
	t, err := parseNPUSMITable(info)
	if err != nil {
		return t, nil, err
	}
	if chipMap == nil {
		return t, nil, nil
	}
	logic, err := parseNPUSMIMap(chipMap)
	return t, logic, err
}
