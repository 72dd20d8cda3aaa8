import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;

import org.apache.kafka.common.utils.Exit;
import org.apache.kafka.tools.AclCommand;

/**
 * Runs kafka-acls (AclCommand) once per line of a file, in one JVM: starting a JVM per command
 * cost the suite over a minute. Each line holds one command's arguments separated by tabs; its
 * output is printed between "=== exit CODE" and "=== end". Exit.exit (the tool's error path)
 * throws instead of ending the JVM. With a second argument N, waits N ms after each --add or
 * --remove (a broker that applies ACL changes asynchronously shows them a moment later).
 */
public class AclFlow {
    static final class Exited extends RuntimeException {
        final int code;

        Exited(int code) {
            super(null, null, false, false);
            this.code = code;
        }
    }

    public static void main(String[] args) throws Exception {
        long settleMs = args.length > 1 ? Long.parseLong(args[1]) : 0;
        Exit.setExitProcedure((code, message) -> {
            throw new Exited(code);
        });
        PrintStream real = System.out;
        for (String line : Files.readAllLines(Paths.get(args[0]), StandardCharsets.UTF_8)) {
            if (line.isEmpty()) {
                continue;
            }
            String[] argv = line.split("\t");
            ByteArrayOutputStream captured = new ByteArrayOutputStream();
            int code = 0;
            System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
            try {
                AclCommand.main(argv);
            } catch (Exited e) {
                code = e.code;
            } finally {
                System.setOut(real);
            }
            real.println("=== exit " + code);
            real.print(captured.toString(StandardCharsets.UTF_8));
            real.println("=== end");
            real.flush();
            if (settleMs > 0 && (line.contains("--add") || line.contains("--remove"))) {
                Thread.sleep(settleMs);
            }
        }
    }
}
