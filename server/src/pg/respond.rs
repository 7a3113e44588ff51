//! The pgwire response for what a statement produced ([`Outcome`]): rows stream as
//! DataRows ([`super::encode`]), `COPY ... TO STDOUT` through the copy protocol
//! ([`super::copy`]), the rest is a command tag.

use std::sync::Arc;

use datafusion::execution::SendableRecordBatchStream;
use datafusion::arrow::record_batch::RecordBatch;
use futures::stream;
use pgwire::api::portal::Format;
use pgwire::api::results::{QueryResponse, Response, Tag};

use super::encode::{TextOptions, data_rows, field_infos};
use crate::error::ServerError;
use crate::session::Outcome;
use crate::statement::Limits;

/// Build the response for one outcome. `buffer` collects rows first (used for all but
/// the last statement of a multi-statement query, so statements run strictly in order).
pub async fn response(
    outcome: Outcome,
    format: &Format,
    buffer: bool,
    limits: Limits,
    text: TextOptions,
) -> Result<Response, ServerError> {
    Ok(match outcome {
        Outcome::Rows { stream, tag } => {
            let fields = Arc::new(field_infos(&stream.schema(), format)?);
            let mut response = if buffer {
                let batches = collect_batches(stream).await?;
                QueryResponse::new(fields.clone(), data_rows(stream::iter(batches.into_iter().map(Ok)), fields, limits.without_deadline(), text))
            } else {
                QueryResponse::new(fields.clone(), data_rows(stream, fields, limits, text))
            };
            response.set_command_tag(tag);
            Response::Query(response)
        }
        Outcome::Done { tag, rows, oid } => {
            let mut t = Tag::new(&tag);
            if let Some(oid) = oid {
                t = t.with_oid(oid);
            }
            if let Some(rows) = rows {
                t = t.with_rows(rows);
            }
            Response::Execution(t)
        }
        // The query handlers answer it themselves (super::copy_in::start).
        Outcome::CopyIn(_) => return Err(ServerError::Protocol { message: "COPY FROM STDIN answered out of turn".to_string() }),
        Outcome::CopyOut { stream, options } => Response::CopyOut(super::copy::copy_response(stream, options, limits, text)?),
        Outcome::TransactionStart => Response::TransactionStart(Tag::new("BEGIN")),
        Outcome::TransactionEnd { tag } => Response::TransactionEnd(Tag::new(tag)),
        Outcome::SettingChanged { tag, .. } => Response::Execution(Tag::new(tag)),
    })
}

async fn collect_batches(stream: SendableRecordBatchStream) -> Result<Vec<RecordBatch>, ServerError> {
    let (_, batches) = crate::session::collect_stream(stream).await?;
    Ok(batches)
}
