package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// TableSchema is the table's key schema and indexes. template.yaml declares the same table
// for AWS; a test fails when the two disagree.
func TableSchema(name string) *dynamodb.CreateTableInput {
	s := func(n string) types.AttributeDefinition {
		return types.AttributeDefinition{AttributeName: aws.String(n), AttributeType: types.ScalarAttributeTypeS}
	}
	return &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			s(attrPK), s(attrSK), s(attrGSI1PK), s(attrGSI1SK), s(attrGSI2PK), s(attrGSI3PK), s(attrGSI4PK),
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(attrPK), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(attrSK), KeyType: types.KeyTypeRange},
		},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{
			gsiOn(gsi1, attrGSI1PK),
			// The signing events' filter indexes (eventindex.go), on the events' GSI1SK.
			gsiOn(gsi2, attrGSI2PK), gsiOn(gsi3, attrGSI3PK), gsiOn(gsi4, attrGSI4PK),
		},
	}
}

// gsiOn is a GSI named name on the partition key pk and the sort key GSI1SK, projecting
// whole items.
func gsiOn(name, pk string) types.GlobalSecondaryIndex {
	return types.GlobalSecondaryIndex{
		IndexName: aws.String(name),
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(pk), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(attrGSI1SK), KeyType: types.KeyTypeRange},
		},
		Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
	}
}

// TTLAttribute is the attribute DynamoDB's time-to-live reads (epoch seconds).
const TTLAttribute = attrTTL

// TableCreator is what CreateTable needs of a DynamoDB client.
type TableCreator interface {
	CreateTable(context.Context, *dynamodb.CreateTableInput, ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(context.Context, *dynamodb.DescribeTableInput, ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
}

// CreateTable creates the table (for local stacks and integration tests; in AWS the template
// does) and waits until it is active. An existing table is fine. It does not call
// UpdateTimeToLive or ListTables, which the local DynamoDB stand-in does not serve.
func CreateTable(ctx context.Context, db TableCreator, name string) error {
	_, err := db.CreateTable(ctx, TableSchema(name))
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("create table %s: %w", name, err)
	}
	for i := 0; ; i++ {
		out, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		if err == nil && tableReady(out.Table) {
			return nil
		}
		if i >= 120 {
			return fmt.Errorf("table %s did not become active: %v", name, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// tableReady reports whether a described table serves reads and writes. The local stand-in
// reports no status at all; a table it describes is ready.
func tableReady(t *types.TableDescription) bool {
	if t == nil {
		return false
	}
	switch t.TableStatus {
	case types.TableStatusActive, types.TableStatusUpdating, "":
		return true
	}
	return false
}
