// pgjdbc scenario for Ember's client suite (tests/clients/test_jdbc.py runs and checks it).
// Usage: java -cp postgresql.jar:. EmberJdbc <jdbc-url> <scenario|metadata> <csv path> <typed query>
// Prints tab-separated "key<TAB>value" lines; the Python side compares them with the answers.
import java.sql.*;
import java.util.*;

public class EmberJdbc {
    static void out(String key, Object value) {
        System.out.println(key + "\t" + (value == null ? "<NULL>" : value.toString()));
    }

    /** A column as PostgreSQL prints it, whichever wire format the driver chose: getString
     *  of a binary-transferred bytea or array is Java's toString, so the typed query's bytea
     *  ("by") and array ("ai", "at") columns use their own getters. */
    static String valueText(ResultSet rs, int i, String label) throws SQLException {
        if (label.equals("by")) {
            byte[] bytes = rs.getBytes(i);
            if (bytes == null) return "<NULL>";
            StringBuilder hex = new StringBuilder("\\x");
            for (byte b : bytes) hex.append(String.format("%02x", b));
            return hex.toString();
        }
        if (label.equals("ai") || label.equals("at")) {
            java.sql.Array array = rs.getArray(i);
            if (array == null) return "<NULL>";
            Object[] items = (Object[]) array.getArray();
            StringBuilder sb = new StringBuilder("{");
            for (int k = 0; k < items.length; k++) {
                if (k > 0) sb.append(',');
                sb.append(items[k] == null ? "NULL" : items[k].toString());
            }
            return sb.append('}').toString();
        }
        String text = rs.getString(i);
        return text == null ? "<NULL>" : text;
    }

    static String rowText(ResultSet rs) throws SQLException {
        ResultSetMetaData md = rs.getMetaData();
        StringBuilder sb = new StringBuilder();
        for (int i = 1; i <= md.getColumnCount(); i++) {
            if (i > 1) sb.append('|');
            String label = md.getColumnLabel(i);
            sb.append(label).append('=').append(valueText(rs, i, label));
        }
        return sb.toString();
    }

    public static void main(String[] args) throws Exception {
        String url = args[0], mode = args[1], csv = args[2], typed = args[3];
        try (Connection c = DriverManager.getConnection(url)) {
            if (mode.equals("metadata")) { metadata(c, csv); return; }
            try (Statement s = c.createStatement()) {
                s.execute("CREATE EXTERNAL TABLE IF NOT EXISTS emp_jdbc STORED AS CSV LOCATION '" + csv + "' OPTIONS ('format.has_header' 'true')");
                try (ResultSet rs = s.executeQuery("SELECT count(*) FROM emp_jdbc")) { rs.next(); out("count", rs.getLong(1)); }
            }
            // prepareThreshold (default 5): runs 1-4 use unnamed statements and text, from run 5
            // on a named server-side statement with binary transfer. Results must not change.
            try (PreparedStatement ps = c.prepareStatement(
                    "SELECT name FROM emp_jdbc WHERE salary > ? AND active = ? ORDER BY emp_id")) {
                for (int run = 1; run <= 10; run++) {
                    ps.setDouble(1, 4000.0);
                    ps.setBoolean(2, true);
                    List<String> names = new ArrayList<>();
                    try (ResultSet rs = ps.executeQuery()) { while (rs.next()) names.add(rs.getString(1)); }
                    out("param_run_" + run, String.join(",", names));
                }
            }
            try (PreparedStatement ps = c.prepareStatement(typed)) {
                for (int run = 1; run <= 10; run++) {
                    try (ResultSet rs = ps.executeQuery()) { rs.next(); out("typed_run_" + run, rowText(rs)); }
                }
            }
            // Parameters of several types, bound and read back.
            try (PreparedStatement ps = c.prepareStatement(
                    "SELECT CAST(? AS int8), CAST(? AS numeric), CAST(? AS text), CAST(? AS date), CAST(? AS timestamp), CAST(? AS bytea), CAST(? AS bool)")) {
                for (int run = 1; run <= 7; run++) {
                    ps.setLong(1, 1L << 40);
                    ps.setBigDecimal(2, new java.math.BigDecimal("-98765.4321"));
                    ps.setString(3, "it's \"quoted\" ünï");
                    ps.setDate(4, java.sql.Date.valueOf("2024-02-29"));
                    ps.setTimestamp(5, java.sql.Timestamp.valueOf("2024-02-29 13:14:15.25"));
                    ps.setBytes(6, new byte[] {0, (byte) 0xff, 'b'});
                    ps.setBoolean(7, true);
                    try (ResultSet rs = ps.executeQuery()) {
                        rs.next();
                        // stripTrailingZeros: Ember's bare `numeric` has scale 10 (README, known differences).
                        out("params_run_" + run, rs.getLong(1) + "|" + rs.getBigDecimal(2).stripTrailingZeros().toPlainString() + "|" + rs.getString(3) + "|"
                            + rs.getDate(4) + "|" + rs.getTimestamp(5) + "|" + Arrays.toString(rs.getBytes(6)) + "|" + rs.getBoolean(7));
                    }
                }
            }
            try (Statement s = c.createStatement()) {
                try { s.executeQuery("SELECT * FROM no_such_table"); out("error", "none"); }
                catch (SQLException e) { out("error", e.getSQLState()); }
                try (ResultSet rs = s.executeQuery("SELECT 2")) { rs.next(); out("after_error", rs.getInt(1)); }
            }
            c.setAutoCommit(false);
            try (Statement s = c.createStatement()) {
                s.executeQuery("SELECT 1").close();
                try { s.executeQuery("SELECT 1/0"); out("tx_error", "none"); }
                catch (SQLException e) { out("tx_error", e.getSQLState()); }
                try { s.executeQuery("SELECT 1"); out("tx_aborted", "none"); }
                catch (SQLException e) { out("tx_aborted", e.getSQLState()); }
                c.rollback();
                try (ResultSet rs = s.executeQuery("SELECT 3")) { rs.next(); out("after_rollback", rs.getInt(1)); }
                c.commit();
            }
        }
    }

    static void metadata(Connection c, String csv) throws SQLException {
        try (Statement s = c.createStatement()) {
            s.execute("CREATE EXTERNAL TABLE IF NOT EXISTS emp_jdbc_md STORED AS CSV LOCATION '" + csv + "' OPTIONS ('format.has_header' 'true')");
        }
        DatabaseMetaData md = c.getMetaData();
        out("product", md.getDatabaseProductName() + " " + md.getDatabaseProductVersion());
        try (ResultSet rs = md.getTables(null, "public", "emp_jdbc_md", new String[] {"TABLE"})) {
            while (rs.next()) out("table", rs.getString("TABLE_SCHEM") + "." + rs.getString("TABLE_NAME") + " " + rs.getString("TABLE_TYPE"));
        }
        try (ResultSet rs = md.getColumns(null, "public", "emp_jdbc_md", "%")) {
            while (rs.next()) out("column", rs.getString("COLUMN_NAME") + " " + rs.getString("TYPE_NAME") + " " + rs.getInt("ORDINAL_POSITION"));
        }
        // What BI tools' navigators and sync (DBeaver, Metabase, DataGrip) call next; each must
        // answer without error (Ember has no keys, indexes or comments: empty results).
        String[] calls = {"schemas", "catalogs", "tableTypes", "primaryKeys", "importedKeys", "exportedKeys",
                          "indexInfo", "typeInfo", "functions", "procedures", "allTables", "views"};
        for (String call : calls) {
            try (ResultSet rs = switch (call) {
                case "schemas" -> md.getSchemas();
                case "catalogs" -> md.getCatalogs();
                case "tableTypes" -> md.getTableTypes();
                case "primaryKeys" -> md.getPrimaryKeys(null, "public", "emp_jdbc_md");
                case "importedKeys" -> md.getImportedKeys(null, "public", "emp_jdbc_md");
                case "exportedKeys" -> md.getExportedKeys(null, "public", "emp_jdbc_md");
                case "indexInfo" -> md.getIndexInfo(null, "public", "emp_jdbc_md", false, true);
                case "typeInfo" -> md.getTypeInfo();
                case "functions" -> md.getFunctions(null, "public", "%");
                case "procedures" -> md.getProcedures(null, "public", "%");
                case "allTables" -> md.getTables(null, null, "%", null);
                default -> md.getTables(null, "public", "%", new String[] {"VIEW"});
            }) {
                StringBuilder first = new StringBuilder();
                int n = 0;
                while (rs.next()) { if (n++ == 0) first.append(rs.getString(1)).append(",").append(rs.getMetaData().getColumnCount() > 2 ? rs.getString(3) : ""); }
                out("md_" + call, n + " " + first);
            } catch (SQLException e) {
                out("md_" + call, "ERROR " + e.getSQLState() + " " + e.getMessage().replace('\n', ' '));
            }
        }
    }
}
