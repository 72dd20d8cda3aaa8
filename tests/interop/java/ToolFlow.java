import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;

import org.apache.kafka.common.utils.Exit;

/**
 * Runs Apache Kafka's command-line tools (kafka-topics, kafka-acls, kafka-transactions, ...) once
 * per line of a file, in one JVM: starting a JVM per command costs a second or more each. Each
 * line holds the tool's main class and then its arguments, separated by tabs. Each command's
 * outputs are printed as "=== exit CODE", its stdout, "=== stderr", its stderr, "=== end".
 * Exit.exit (how the tools end, also on errors) throws instead of ending the JVM; the first code
 * a command exits with is its exit code (some tools catch the throw and exit again). With a second
 * argument N, waits N ms after each command that has --add or --remove among its arguments (a
 * broker that applies ACL changes asynchronously shows them a moment later).
 */
public class ToolFlow {
    static final class Exited extends RuntimeException {
        final int code;

        Exited(int code) {
            super(null, null, false, false);
            this.code = code;
        }
    }

    static Integer firstExit;

    static void exit(int code) {
        if (firstExit == null) {
            firstExit = code;
        }
        throw new Exited(code);
    }

    public static void main(String[] args) throws Exception {
        long settleMs = args.length > 1 ? Long.parseLong(args[1]) : 0;
        Exit.setExitProcedure((code, message) -> exit(code));
        Exit.setHaltProcedure((code, message) -> exit(code));
        PrintStream realOut = System.out;
        PrintStream realErr = System.err;
        for (String line : Files.readAllLines(Paths.get(args[0]), StandardCharsets.UTF_8)) {
            if (line.isEmpty()) {
                continue;
            }
            String[] fields = line.split("\t");
            String[] argv = java.util.Arrays.copyOfRange(fields, 1, fields.length);
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            int code = 0;
            firstExit = null;
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            try {
                Method main = Class.forName(fields[0]).getMethod("main", String[].class);
                main.invoke(null, (Object) argv);
            } catch (InvocationTargetException e) {
                if (e.getCause() instanceof Exited) {
                    code = ((Exited) e.getCause()).code;
                } else {
                    code = -1;
                    e.getCause().printStackTrace();
                }
            } finally {
                System.out.flush();
                System.err.flush();
                System.setOut(realOut);
                System.setErr(realErr);
            }
            if (firstExit != null) {
                code = firstExit;
            }
            realOut.println("=== exit " + code);
            realOut.print(out.toString(StandardCharsets.UTF_8));
            realOut.println("=== stderr");
            realOut.print(err.toString(StandardCharsets.UTF_8));
            realOut.println("=== end");
            realOut.flush();
            if (settleMs > 0 && (line.contains("\t--add") || line.contains("\t--remove"))) {
                Thread.sleep(settleMs);
            }
        }
    }
}
