package tracking

// APIPrefix is the path every REST endpoint is under.
const APIPrefix = "/api/2.0/mlflow/"

// SearchResponse is the body of runs/search.
type SearchResponse struct {
	Runs          []Run  `json:"runs"`
	NextPageToken string `json:"next_page_token,omitempty"`
}

// Run statuses (MLflow RunStatus).
const (
	StatusRunning   = "RUNNING"
	StatusScheduled = "SCHEDULED"
	StatusFinished  = "FINISHED"
	StatusFailed    = "FAILED"
	StatusKilled    = "KILLED"
)

// Error codes (MLflow ErrorCode) carried in error responses.
const (
	ErrorCodeNotFound         = "RESOURCE_DOES_NOT_EXIST"
	ErrorCodeAlreadyExists    = "RESOURCE_ALREADY_EXISTS"
	ErrorCodeInvalidParameter = "INVALID_PARAMETER_VALUE"
	ErrorCodeBadRequest       = "BAD_REQUEST"
	ErrorCodeEndpointNotFound = "ENDPOINT_NOT_FOUND"
	ErrorCodeLimitExceeded    = "REQUEST_LIMIT_EXCEEDED"
	ErrorCodeInternalError    = "INTERNAL_ERROR"
	ErrorCodeMethodNotAllowed = "METHOD_NOT_ALLOWED"
)

// Experiment mirrors MLflow's Experiment JSON.
type Experiment struct {
	ExperimentID     string   `json:"experiment_id"`
	Name             string   `json:"name"`
	ArtifactLocation string   `json:"artifact_location"`
	LifecycleStage   string   `json:"lifecycle_stage"`
	CreationTime     int64    `json:"creation_time"`
	LastUpdateTime   int64    `json:"last_update_time"`
	Tags             []RunTag `json:"tags,omitempty"`
}

// Run mirrors MLflow's Run JSON.
type Run struct {
	Info RunInfo `json:"info"`
	Data RunData `json:"data"`
}

// RunInfo mirrors MLflow's RunInfo JSON.
type RunInfo struct {
	RunID          string `json:"run_id"`
	RunUUID        string `json:"run_uuid"` // deprecated alias MLflow still sends
	ExperimentID   string `json:"experiment_id"`
	RunName        string `json:"run_name"`
	UserID         string `json:"user_id,omitempty"`
	Status         string `json:"status"`
	StartTime      int64  `json:"start_time"`
	EndTime        int64  `json:"end_time,omitempty"`
	ArtifactURI    string `json:"artifact_uri"`
	LifecycleStage string `json:"lifecycle_stage"`
}

// RunData mirrors MLflow's RunData JSON; metrics hold the latest value of
// each key.
type RunData struct {
	Metrics []Metric `json:"metrics,omitempty"`
	Params  []Param  `json:"params,omitempty"`
	Tags    []RunTag `json:"tags,omitempty"`
}

// Metric is one metric value.
type Metric struct {
	Key       string  `json:"key"`
	Value     float64 `json:"value"`
	Timestamp int64   `json:"timestamp"`
	Step      int64   `json:"step"`
}

// Param is one run parameter (immutable once logged).
type Param struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// RunTag is one run or experiment tag.
type RunTag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// FileInfo is one entry of artifacts/list.
type FileInfo struct {
	Path     string `json:"path"`
	IsDir    bool   `json:"is_dir"`
	FileSize int64  `json:"file_size,omitempty"`
}

// Tag returns the value of tag k, or "" when absent.
func (r Run) Tag(k string) string {
	for _, t := range r.Data.Tags {
		if t.Key == k {
			return t.Value
		}
	}
	return ""
}

// Param returns the value of parameter k, or "" when absent.
func (r Run) Param(k string) string {
	for _, p := range r.Data.Params {
		if p.Key == k {
			return p.Value
		}
	}
	return ""
}

// Metric returns the latest value of metric k and whether it was logged.
func (r Run) Metric(k string) (float64, bool) {
	for _, m := range r.Data.Metrics {
		if m.Key == k {
			return m.Value, true
		}
	}
	return 0, false
}
