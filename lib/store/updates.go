package store

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/tenant"
	"github.com/opensignum/signum/lib/updates"
)

// releaseItem is a release: PK=RELEASES, SK=RELEASE#<version>.
type releaseItem struct {
	PK          string   `dynamodbav:"PK"`
	SK          string   `dynamodbav:"SK"`
	Type        string   `dynamodbav:"type"`
	Release     string   `dynamodbav:"release"`
	Notes       string   `dynamodbav:"notes,omitempty"`
	MinFrom     string   `dynamodbav:"minFrom"`
	DataVersion int      `dynamodbav:"dataVersion"`
	Migrations  []string `dynamodbav:"migrations,omitempty"`
	PublishedAt string   `dynamodbav:"publishedAt"`
	PublishedBy string   `dynamodbav:"publishedBy"`
}

func decodeRelease(av map[string]types.AttributeValue) (updates.Release, error) {
	it, err := decodeAs[releaseItem]("release")(av)
	return updates.Release{Version: it.Release, Notes: it.Notes, MinFrom: it.MinFrom, DataVersion: it.DataVersion,
		Migrations: it.Migrations, PublishedAt: parseTime(it.PublishedAt), PublishedBy: it.PublishedBy}, err
}

// CreateRelease stores a new release; a version published before is ErrConflict.
func (s *Store) CreateRelease(ctx context.Context, r updates.Release) error {
	it := releaseItem{PK: releasesPK, SK: releaseSK(r.Version), Type: "release", Release: r.Version, Notes: r.Notes, MinFrom: r.MinFrom,
		DataVersion: r.DataVersion, Migrations: r.Migrations, PublishedAt: formatTime(r.PublishedAt), PublishedBy: r.PublishedBy}
	return s.create(ctx, "create release", it, fault.Newf(ErrConflict, "The release %s is published already; publish a new version instead.", r.Version))
}

// GetRelease reads a release by version.
func (s *Store) GetRelease(ctx context.Context, version string) (updates.Release, error) {
	return get(ctx, s, releasesPK, releaseSK(version), "get release", decodeRelease, notFound("No release has the version %q.", fault.Clip(version, 40)))
}

// AllReleases reads every release, page by page (a service has tens of them).
func (s *Store) AllReleases(ctx context.Context) ([]updates.Release, error) {
	return All(ctx, func(ctx context.Context, pr PageRequest) (Page[updates.Release], error) {
		return query(ctx, s, "releases", listPrefixInput(releasesPK, releasePrefix), []string{attrPK, attrSK}, pr, decodeRelease)
	})
}

// stepItem is one migration of a run, inside the run item.
type stepItem struct {
	Name       string `dynamodbav:"name"`
	State      string `dynamodbav:"state"`
	Cursor     string `dynamodbav:"cursor,omitempty"`
	Processed  int64  `dynamodbav:"processed"`
	Error      string `dynamodbav:"error,omitempty"`
	StartedAt  string `dynamodbav:"startedAt,omitempty"`
	UpdatedAt  string `dynamodbav:"updatedAt,omitempty"`
	FinishedAt string `dynamodbav:"finishedAt,omitempty"`
}

// runItem is a deployment's current or last update run: PK=DEP#<id>, SK=UPDATE#RUN.
type runItem struct {
	PK          string     `dynamodbav:"PK"`
	SK          string     `dynamodbav:"SK"`
	Type        string     `dynamodbav:"type"`
	ID          string     `dynamodbav:"id"`
	Release     string     `dynamodbav:"release"`
	FromRelease string     `dynamodbav:"fromRelease"`
	DataVersion int        `dynamodbav:"dataVersion"`
	FromData    int        `dynamodbav:"fromData"`
	State       string     `dynamodbav:"state"`
	At          string     `dynamodbav:"at,omitempty"`
	Steps       []stepItem `dynamodbav:"steps,omitempty"`
	Error       string     `dynamodbav:"error,omitempty"`
	RolloutID   string     `dynamodbav:"rolloutId,omitempty"`
	RequestedBy string     `dynamodbav:"requestedBy,omitempty"`
	CreatedAt   string     `dynamodbav:"createdAt"`
	StartedAt   string     `dynamodbav:"startedAt,omitempty"`
	UpdatedAt   string     `dynamodbav:"updatedAt"`
	FinishedAt  string     `dynamodbav:"finishedAt,omitempty"`
	Version     int64      `dynamodbav:"version"`
}

func toRunItem(r updates.Run) runItem {
	it := runItem{PK: deploymentPK(r.DeploymentID), SK: updateRunSK, Type: "updateRun", ID: r.ID, Release: r.Version, FromRelease: r.FromVersion,
		DataVersion: r.DataVersion, FromData: r.FromData, State: string(r.State), At: formatTime(r.At), Error: r.Error, RolloutID: r.RolloutID,
		RequestedBy: r.RequestedBy, CreatedAt: formatTime(r.CreatedAt), StartedAt: formatTime(r.StartedAt), UpdatedAt: formatTime(r.UpdatedAt),
		FinishedAt: formatTime(r.FinishedAt), Version: r.Revision}
	for _, st := range r.Steps {
		it.Steps = append(it.Steps, stepItem{Name: st.Name, State: string(st.State), Cursor: st.Cursor, Processed: st.Processed, Error: st.Error,
			StartedAt: formatTime(st.StartedAt), UpdatedAt: formatTime(st.UpdatedAt), FinishedAt: formatTime(st.FinishedAt)})
	}
	return it
}

func decodeRun(dep string) func(map[string]types.AttributeValue) (updates.Run, error) {
	return func(av map[string]types.AttributeValue) (updates.Run, error) {
		it, err := decodeAs[runItem]("update run")(av)
		r := updates.Run{ID: it.ID, DeploymentID: dep, Version: it.Release, FromVersion: it.FromRelease, DataVersion: it.DataVersion, FromData: it.FromData,
			State: updates.State(it.State), At: parseTime(it.At), Error: it.Error, RolloutID: it.RolloutID, RequestedBy: it.RequestedBy,
			CreatedAt: parseTime(it.CreatedAt), StartedAt: parseTime(it.StartedAt), UpdatedAt: parseTime(it.UpdatedAt), FinishedAt: parseTime(it.FinishedAt),
			Revision: it.Version}
		for _, st := range it.Steps {
			r.Steps = append(r.Steps, updates.Step{Name: st.Name, State: updates.StepState(st.State), Cursor: st.Cursor, Processed: st.Processed,
				Error: st.Error, StartedAt: parseTime(st.StartedAt), UpdatedAt: parseTime(st.UpdatedAt), FinishedAt: parseTime(st.FinishedAt)})
		}
		return r, err
	}
}

// activeRunItem lists a deployment among the active runs: PK=UPDATES#ACTIVE, SK=DEP#<id>.
type activeRunItem struct {
	PK           string `dynamodbav:"PK"`
	SK           string `dynamodbav:"SK"`
	Type         string `dynamodbav:"type"`
	DeploymentID string `dynamodbav:"deploymentId"`
	RunID        string `dynamodbav:"runId"`
}

// GetRun reads dep's current or last update run.
func (s *Store) GetRun(ctx context.Context, dep string) (updates.Run, error) {
	return get(ctx, s, deploymentPK(dep), updateRunSK, "get update run", decodeRun(dep), notFound("The deployment has had no update."))
}

// StartRun writes r, a new run, unless dep's run is unfinished (ErrConflict), and lists it
// among the active runs, with a log entry: one transaction. The transaction checks too that
// the deployment is still on r.FromVersion (ErrConflict): a run that finished between the
// caller's read of the deployment and this write must not leave r starting from a version
// the deployment has left.
func (s *Store) StartRun(ctx context.Context, r updates.Run, log tenant.LogEntry) error {
	r.Revision = 1
	onFrom := "attribute_exists(PK) AND softwareVersion = :from"
	if r.FromVersion == "" {
		// A deployment stored before versions were recorded has no softwareVersion at all.
		onFrom = "attribute_exists(PK) AND (attribute_not_exists(softwareVersion) OR softwareVersion = :from)"
	}
	items := []types.TransactWriteItem{
		{Put: &types.Put{TableName: &s.table, Item: marshal(toRunItem(r)),
			ConditionExpression:       aws.String("attribute_not_exists(PK) OR #state IN (:done, :cancelled)"),
			ExpressionAttributeNames:  map[string]string{"#state": "state"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":done": &types.AttributeValueMemberS{Value: string(updates.StateDone)}, ":cancelled": &types.AttributeValueMemberS{Value: string(updates.StateCancelled)}}}},
		{Put: &types.Put{TableName: &s.table, Item: marshal(activeRunItem{PK: activeRunsPK, SK: activeRunSK(r.DeploymentID), Type: "activeRun", DeploymentID: r.DeploymentID, RunID: r.ID})}},
		s.putLog(r.DeploymentID, log),
		{ConditionCheck: &types.ConditionCheck{TableName: &s.table, Key: key(deploymentPK(r.DeploymentID), metaSK), ConditionExpression: aws.String(onFrom),
			ExpressionAttributeValues: map[string]types.AttributeValue{":from": &types.AttributeValueMemberS{Value: r.FromVersion}}}},
	}
	return s.conditional(ctx, "start update run", items, map[int]error{
		0: fault.Newf(ErrConflict, "The deployment has an unfinished update."),
		3: versionChanged(r),
	})
}

// versionChanged is the conflict of a run whose deployment is no longer on the run's from
// version: another update moved it meanwhile.
func versionChanged(r updates.Run) error {
	return fault.Newf(updates.ErrVersionChanged, "The deployment's version changed meanwhile: it is no longer on %s (data version at most %d), so the update to %s would move it backwards; read the deployment again.",
		r.FromVersion, r.DataVersion, r.Version)
}

// SaveRun writes r over the revision it was read at (ErrStale when another write came
// first), with a log entry when log.Action is set; a finished r leaves the active runs in the
// same transaction.
func (s *Store) SaveRun(ctx context.Context, r updates.Run, log tenant.LogEntry) (updates.Run, error) {
	read := r.Revision
	r.Revision++
	items := []types.TransactWriteItem{s.putVersioned(toRunItem(r), read)}
	if log.Action != "" {
		items = append(items, s.putLog(r.DeploymentID, log))
	}
	if r.State.Finished() {
		items = append(items, s.leaveActive(r))
	}
	if len(items) == 1 {
		// Progress after a batch: one conditional put, no transaction.
		p := items[0].Put
		_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: p.TableName, Item: p.Item, ConditionExpression: p.ConditionExpression,
			ExpressionAttributeValues: p.ExpressionAttributeValues})
		switch {
		case isConditionFailed(err):
			return updates.Run{}, fault.Newf(ErrStale, "The update %s changed meanwhile; read it again.", r.ID)
		case err != nil:
			return updates.Run{}, unavailable("save update run", err)
		}
		return r, nil
	}
	if err := s.conditional(ctx, "save update run", items, map[int]error{0: fault.Newf(ErrStale, "The update %s changed meanwhile; read it again.", r.ID)}); err != nil {
		return updates.Run{}, err
	}
	return r, nil
}

// leaveActive deletes run's deployment from the active runs (if it is still there for it).
func (s *Store) leaveActive(r updates.Run) types.TransactWriteItem {
	return types.TransactWriteItem{Delete: &types.Delete{TableName: &s.table, Key: key(activeRunsPK, activeRunSK(r.DeploymentID))}}
}

// CompleteRun writes r (done) over the revision it was read at and moves the deployment's
// software and data versions to r's, leaves the active runs and logs it: one transaction, so
// that the deployment is never on the new version with the run unfinished or the reverse.
// The move is conditional on the deployment being still on r.FromVersion with a data version
// at most r's (ErrConflict otherwise): a version never moves backwards.
func (s *Store) CompleteRun(ctx context.Context, r updates.Run, log tenant.LogEntry) (updates.Run, error) {
	read := r.Revision
	r.Revision++
	now := s.now()
	onFrom := "softwareVersion = :from"
	if r.FromVersion == "" {
		onFrom = "(attribute_not_exists(softwareVersion) OR softwareVersion = :from)"
	}
	items := []types.TransactWriteItem{
		s.putVersioned(toRunItem(r), read),
		{Update: &types.Update{TableName: &s.table, Key: key(deploymentPK(r.DeploymentID), metaSK),
			UpdateExpression:    aws.String("SET softwareVersion = :sv, dataVersion = :dv, updatedAt = :now ADD version :one"),
			ConditionExpression: aws.String("attribute_exists(PK) AND " + onFrom + " AND (attribute_not_exists(dataVersion) OR dataVersion <= :dv)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":sv": &types.AttributeValueMemberS{Value: r.Version}, ":dv": &types.AttributeValueMemberN{Value: fmt.Sprint(r.DataVersion)},
				":from": &types.AttributeValueMemberS{Value: r.FromVersion},
				":now":  &types.AttributeValueMemberS{Value: now.UTC().Format(time.RFC3339Nano)}, ":one": &types.AttributeValueMemberN{Value: "1"},
			}}},
		s.leaveActive(r),
		s.putLog(r.DeploymentID, log),
	}
	err := s.conditional(ctx, "complete update run", items, map[int]error{
		0: fault.Newf(ErrStale, "The update %s changed meanwhile; read it again.", r.ID),
		1: versionChanged(r),
	})
	if err != nil {
		return updates.Run{}, err
	}
	return r, nil
}

// ActiveRuns are the deployments whose update run is unfinished, page by page.
func (s *Store) ActiveRuns(ctx context.Context) ([]string, error) {
	items, err := All(ctx, func(ctx context.Context, pr PageRequest) (Page[activeRunItem], error) {
		return query(ctx, s, "active-runs", listPrefixInput(activeRunsPK, deploymentPrefix), []string{attrPK, attrSK}, pr, decodeAs[activeRunItem]("active run"))
	})
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.DeploymentID
	}
	return out, err
}

// windowItem is a deployment's maintenance window: PK=DEP#<id>, SK=UPDATE#WINDOW.
type windowItem struct {
	PK              string   `dynamodbav:"PK"`
	SK              string   `dynamodbav:"SK"`
	Type            string   `dynamodbav:"type"`
	Days            []string `dynamodbav:"days"`
	Start           string   `dynamodbav:"start"`
	DurationMinutes int      `dynamodbav:"durationMinutes"`
	Version         int64    `dynamodbav:"version"`
	UpdatedAt       string   `dynamodbav:"updatedAt"`
}

// GetWindow reads dep's maintenance window: updates.DefaultWindow while it set none.
func (s *Store) GetWindow(ctx context.Context, dep string) (updates.Window, error) {
	it, err := get(ctx, s, deploymentPK(dep), updateWindowSK, "get maintenance window", decodeAs[windowItem]("maintenance window"), nil)
	if err != nil || it.Start == "" {
		return updates.DefaultWindow(), err
	}
	return updates.Window{Days: it.Days, Start: it.Start, Duration: time.Duration(it.DurationMinutes) * time.Minute, Version: it.Version,
		UpdatedAt: parseTime(it.UpdatedAt)}, nil
}

// PutWindow replaces dep's maintenance window (last writer wins: it is one value), with a
// log entry.
func (s *Store) PutWindow(ctx context.Context, dep string, w updates.Window, log tenant.LogEntry) (updates.Window, error) {
	w.Version++
	w.UpdatedAt = s.now().UTC()
	it := windowItem{PK: deploymentPK(dep), SK: updateWindowSK, Type: "maintenanceWindow", Days: w.Days, Start: w.Start,
		DurationMinutes: int(w.Duration / time.Minute), Version: w.Version, UpdatedAt: formatTime(w.UpdatedAt)}
	items := []types.TransactWriteItem{{Put: &types.Put{TableName: &s.table, Item: marshal(it)}}, s.putLog(dep, log)}
	if err := s.transact(ctx, "put maintenance window", items); err != nil {
		if codes := cancellationCodes(err); codes != nil {
			return updates.Window{}, cancelled("put maintenance window", err, codes)
		}
		return updates.Window{}, err
	}
	return w, nil
}

// rolloutItem is a rollout: PK=ROLLOUT#<id>, SK=ROLLOUT, its entries inside.
type rolloutItem struct {
	PK              string             `dynamodbav:"PK"`
	SK              string             `dynamodbav:"SK"`
	Type            string             `dynamodbav:"type"`
	ID              string             `dynamodbav:"id"`
	Release         string             `dynamodbav:"release"`
	WaveSize        int                `dynamodbav:"waveSize"`
	IntervalMinutes int                `dynamodbav:"waveIntervalMinutes"`
	Entries         []rolloutEntryItem `dynamodbav:"entries,omitempty"`
	Remaining       int                `dynamodbav:"remaining,omitempty"`
	CreatedBy       string             `dynamodbav:"createdBy"`
	CreatedAt       string             `dynamodbav:"createdAt"`
}

type rolloutEntryItem struct {
	DeploymentID string `dynamodbav:"deploymentId"`
	Wave         int    `dynamodbav:"wave"`
	At           string `dynamodbav:"at,omitempty"`
	RunID        string `dynamodbav:"runId,omitempty"`
	Skipped      string `dynamodbav:"skipped,omitempty"`
}

func toRolloutItem(r updates.Rollout) rolloutItem {
	it := rolloutItem{PK: rolloutPK(r.ID), SK: rolloutSK, Type: "rollout", ID: r.ID, Release: r.Version, WaveSize: r.WaveSize,
		IntervalMinutes: int(r.WaveInterval / time.Minute), Remaining: r.Remaining, CreatedBy: r.CreatedBy, CreatedAt: formatTime(r.CreatedAt)}
	for _, e := range r.Entries {
		it.Entries = append(it.Entries, rolloutEntryItem{DeploymentID: e.DeploymentID, Wave: e.Wave, At: formatTime(e.At), RunID: e.RunID, Skipped: e.Skipped})
	}
	return it
}

// CreateRollout stores a new rollout.
func (s *Store) CreateRollout(ctx context.Context, r updates.Rollout) error {
	return s.create(ctx, "create rollout", toRolloutItem(r), fault.Newf(ErrConflict, "The rollout %s exists.", r.ID))
}

// SaveRollout writes a rollout created before over itself (its entries' outcomes once its
// runs are scheduled); ErrNotFound when it was not created.
func (s *Store) SaveRollout(ctx context.Context, r updates.Rollout) error {
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: marshal(toRolloutItem(r)), ConditionExpression: aws.String("attribute_exists(PK)")})
	switch {
	case isConditionFailed(err):
		return fault.Newf(ErrNotFound, "No rollout has the id %q.", r.ID)
	case err != nil:
		return unavailable("save rollout", err)
	}
	return nil
}

// GetRollout reads a rollout.
func (s *Store) GetRollout(ctx context.Context, id string) (updates.Rollout, error) {
	if !updates.ValidRolloutID(id) {
		return updates.Rollout{}, fault.Newf(ErrNotFound, "No rollout has the id %q.", fault.Clip(id, 40))
	}
	it, err := get(ctx, s, rolloutPK(id), rolloutSK, "get rollout", decodeAs[rolloutItem]("rollout"), notFound("No rollout has the id %q.", id))
	if err != nil {
		return updates.Rollout{}, err
	}
	r := updates.Rollout{ID: it.ID, Version: it.Release, WaveSize: it.WaveSize, WaveInterval: time.Duration(it.IntervalMinutes) * time.Minute,
		Remaining: it.Remaining, CreatedBy: it.CreatedBy, CreatedAt: parseTime(it.CreatedAt)}
	for _, e := range it.Entries {
		r.Entries = append(r.Entries, updates.RolloutEntry{DeploymentID: e.DeploymentID, Wave: e.Wave, At: parseTime(e.At), RunID: e.RunID, Skipped: e.Skipped})
	}
	return r, nil
}

// EachDeployment calls f with every deployment, oldest first, a page at a time (the
// listing of pattern 4); an error of f stops it.
func (s *Store) EachDeployment(ctx context.Context, f func(tenant.Deployment) error) error {
	pr := PageRequest{Limit: MaxPageSize}
	for {
		page, err := s.ListDeployments(ctx, pr)
		if err != nil {
			return err
		}
		for _, d := range page.Items {
			if err := f(d); err != nil {
				return err
			}
		}
		if page.Next == "" {
			return nil
		}
		pr.Cursor = page.Next
	}
}

// Sample is an item of the synthetic test migration's data: how many times migrations
// changed it.
type Sample struct {
	ID    string
	Count int
}

// sampleItem is a sample: PK=DEP#<id>, SK=SAMPLE#<sampleId>.
type sampleItem struct {
	PK    string `dynamodbav:"PK"`
	SK    string `dynamodbav:"SK"`
	Type  string `dynamodbav:"type"`
	ID    string `dynamodbav:"id"`
	Count int    `dynamodbav:"count"`
}

// PutSamples writes new samples with the ids (count 0).
func (s *Store) PutSamples(ctx context.Context, dep string, ids []string) error {
	for _, id := range ids {
		if err := s.create(ctx, "put sample", sampleItem{PK: deploymentPK(dep), SK: sampleSK(id), Type: "sample", ID: id}, ErrConflict); err != nil {
			return err
		}
	}
	return nil
}

// SamplePage reads up to limit samples after cursor ("" for the first), in id order; next is
// "" after the last.
func (s *Store) SamplePage(ctx context.Context, dep, cursor string, limit int) (items []Sample, next string, err error) {
	page, err := listPrefix(ctx, s, dep, migrationSample, PageRequest{Limit: limit, Cursor: cursor}, func(av map[string]types.AttributeValue) (Sample, error) {
		it, err := decodeAs[sampleItem]("sample")(av)
		return Sample{ID: it.ID, Count: it.Count}, err
	})
	return page.Items, page.Next, err
}

// MigrateSample is a migration's change of one sample: its count goes up by one and the
// migration's mark (the attribute migrated_<name>) is set, in one conditional write that
// does nothing when the mark is there already. applied says whether it changed the sample.
func (s *Store) MigrateSample(ctx context.Context, dep, id, migration string) (applied bool, err error) {
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &s.table, Key: key(deploymentPK(dep), sampleSK(id)),
		UpdateExpression:         aws.String("SET #mark = :now ADD #count :one"),
		ConditionExpression:      aws.String("attribute_exists(PK) AND attribute_not_exists(#mark)"),
		ExpressionAttributeNames: map[string]string{"#count": "count", "#mark": "migrated_" + migration},
		ExpressionAttributeValues: map[string]types.AttributeValue{":one": &types.AttributeValueMemberN{Value: "1"},
			":now": &types.AttributeValueMemberS{Value: formatTime(s.now())}}})
	switch {
	case isConditionFailed(err):
		return false, nil
	case err != nil:
		return false, unavailable("migrate sample", err)
	}
	return true, nil
}
