package place

// Name is the name the placer goes by in scheduler profiles and
// explanations ("topology").
const Name = "topology"
