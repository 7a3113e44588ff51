//! TPC-H support shared by the benchmark and the answer test: Parquet data generated with
//! `tpchgen`/`tpchgen-arrow`, and the 22 queries kept in `sql-tests/tpch/queries`.

use std::fs::File;
use std::path::{Path, PathBuf};

use datafusion::arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use tpchgen::generators::{
    CustomerGenerator, LineItemGenerator, NationGenerator, OrderGenerator, PartGenerator, PartSuppGenerator,
    RegionGenerator, SupplierGenerator,
};
use tpchgen_arrow::{
    CustomerArrow, LineItemArrow, NationArrow, OrderArrow, PartArrow, PartSuppArrow, RecordBatchIterator, RegionArrow,
    SupplierArrow,
};

pub const TABLES: [&str; 8] = ["nation", "region", "part", "supplier", "partsupp", "customer", "orders", "lineitem"];

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The repository's `sql-tests/tpch` folder.
pub fn tpch_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sql-tests/tpch")
}

/// The text of query `n` (1..=22).
pub fn query(n: usize) -> Result<String, Error> {
    let path = tpch_dir().join(format!("queries/q{n}.sql"));
    Ok(std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?)
}

/// `CREATE EXTERNAL TABLE` statements for data generated into `dir`.
pub fn create_tables_sql(dir: &Path) -> Vec<String> {
    TABLES
        .iter()
        .map(|t| format!("CREATE EXTERNAL TABLE {t} STORED AS PARQUET LOCATION '{}/{t}/'", dir.display()))
        .collect()
}

fn batches(table: &str, sf: f64, part: i32, parts: i32) -> Box<dyn RecordBatchIterator> {
    match table {
        "nation" => Box::new(NationArrow::new(NationGenerator::new(sf, part, parts))),
        "region" => Box::new(RegionArrow::new(RegionGenerator::new(sf, part, parts))),
        "part" => Box::new(PartArrow::new(PartGenerator::new(sf, part, parts))),
        "supplier" => Box::new(SupplierArrow::new(SupplierGenerator::new(sf, part, parts))),
        "partsupp" => Box::new(PartSuppArrow::new(PartSuppGenerator::new(sf, part, parts))),
        "customer" => Box::new(CustomerArrow::new(CustomerGenerator::new(sf, part, parts))),
        "orders" => Box::new(OrderArrow::new(OrderGenerator::new(sf, part, parts))),
        _ => Box::new(LineItemArrow::new(LineItemGenerator::new(sf, part, parts))),
    }
}

/// Generate all tables at scale factor `sf` into `dir/<table>/part-<i>.parquet`, `parts`
/// files per large table written in parallel. Skips tables already complete (a `_SUCCESS`
/// marker is written last).
pub fn generate(dir: &Path, sf: f64, parts: usize) -> Result<(), Error> {
    std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for table in TABLES {
            let table_dir = dir.join(table);
            if table_dir.join("_SUCCESS").exists() {
                continue;
            }
            std::fs::create_dir_all(&table_dir)?;
            // nation and region are single-part tables in TPC-H.
            let n = if matches!(table, "nation" | "region") { 1 } else { parts.max(1) };
            let table_handles: Vec<_> = (1..=n)
                .map(|part| {
                    let path = table_dir.join(format!("part-{part}.parquet"));
                    scope.spawn(move || write_parquet(&path, batches(table, sf, part as i32, n as i32)))
                })
                .collect();
            handles.push((table_dir, table_handles));
        }
        for (table_dir, table_handles) in handles {
            for handle in table_handles {
                handle.join().map_err(|_| "generator thread panicked")??;
            }
            File::create(table_dir.join("_SUCCESS"))?;
        }
        Ok(())
    })
}

fn write_parquet(path: &Path, mut batches: Box<dyn RecordBatchIterator>) -> Result<(), Error> {
    let tmp = path.with_extension("parquet.tmp");
    let file = File::create(&tmp)?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1)?))
        .build();
    let mut writer = ArrowWriter::try_new(file, batches.schema().clone(), Some(props))?;
    for batch in batches.by_ref() {
        let batch: RecordBatch = batch;
        writer.write(&batch)?;
    }
    writer.close()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}
